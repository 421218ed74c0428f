/**
 * Flattens a stack of overlay-format layer dirs into one plain directory tree, the way overlayfs
 * would present them merged: the top layer wins, whiteout devices hide a path, an opaque
 * directory hides what lower layers have under it. For when nothing can be mounted (isolation
 * 'none': no CAP_SYS_ADMIN, no user namespace). Files are hard links to the layer files by
 * default, which is only safe for a tree nobody writes to; callers that need a writable tree
 * copy this one with `cp -a`, which keeps nanosecond times (Node's utimes does not).
 */

import type { BigIntStats } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  symlink,
} from 'node:fs/promises';
import path from 'node:path';
import { setAttribute } from 'fs-xattr';
import { makeSpecialNodes, type SpecialNode } from '../../image/tar/special-nodes.js';
import {
  deviceNumbers,
  isOpaqueDir,
  isOverlayWhiteout,
  readXattrs,
  type XattrPrefix,
} from './entry-from-stat.js';
import { lstatOrUndefined } from './layer-stack.js';

const S_IFMT = 0o170000n;

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function secs(ns: bigint): number {
  return Number(ns) / 1e9;
}

interface Pending {
  dest: string;
  src: string;
  st: BigIntStats;
}

class Materializer {
  /** Files already placed, by source inode: hard links inside a layer stay hard links. */
  private readonly placed = new Map<string, string>();
  private readonly specials: { node: SpecialNode; from: Pending }[] = [];
  /** Directories get their metadata after their children exist (deepest first). */
  private readonly dirs: Pending[] = [];
  private linkFiles: boolean;

  constructor(
    private readonly prefix: XattrPrefix,
    linkFiles: boolean,
  ) {
    this.linkFiles = linkFiles;
  }

  /** Merges one directory level: `sources` are the same directory in each layer, top first. */
  async mergeDir(sources: string[], dest: string): Promise<void> {
    const seen = new Set<string>();
    for (const src of sources) {
      for (const name of await readdirOrEmpty(src)) {
        if (seen.has(name)) continue;
        seen.add(name);
        await this.mergeName(sources.slice(sources.indexOf(src)), name, dest);
      }
    }
  }

  private async mergeName(sources: string[], name: string, destDir: string): Promise<void> {
    const top = path.join(sources[0] as string, name);
    const st = await lstatOrUndefined(top);
    if (st === undefined || isOverlayWhiteout(st)) return;
    const dest = path.join(destDir, name);

    if (!st.isDirectory()) {
      await this.place(top, dest, st);
      return;
    }
    // The directory continues down the stack until a layer has something else there, or the
    // directory is opaque (then lower layers are hidden).
    const below = [top];
    if (!isOpaqueDir(top, this.prefix)) {
      for (const lower of sources.slice(1)) {
        const p = path.join(lower, name);
        const lst = await lstatOrUndefined(p);
        if (lst === undefined) continue;
        if (!lst.isDirectory()) break;
        below.push(p);
        if (isOpaqueDir(p, this.prefix)) break;
      }
    }
    await mkdir(dest, { mode: 0o700 });
    this.dirs.push({ dest, src: top, st });
    await this.mergeDir(below, dest);
  }

  private async place(src: string, dest: string, st: BigIntStats): Promise<void> {
    const inode = `${st.dev}:${st.ino}`;
    const twin = st.nlink > 1n ? this.placed.get(inode) : undefined;
    if (twin !== undefined) {
      await link(twin, dest);
      return;
    }
    if (st.isSymbolicLink()) {
      await symlink(await readlink(src), dest);
      await lchown(dest, Number(st.uid), Number(st.gid));
      await lutimes(dest, secs(st.atimeNs), secs(st.mtimeNs));
      return;
    }
    if (st.isFile()) {
      if (this.linkFiles && (await this.tryLink(src, dest))) {
        this.placed.set(inode, dest);
        return;
      }
      await copyFile(src, dest);
      await this.applyMeta({ dest, src, st });
      this.placed.set(inode, dest);
      return;
    }
    const kind = (st.mode & S_IFMT) === 0o010000n ? 'fifo' : st.isBlockDevice() ? 'block' : 'char';
    if (st.isSocket()) return;
    const { major, minor } = deviceNumbers(st.rdev);
    this.specials.push({
      node: { path: dest, kind, major, minor, mode: 0o600 },
      from: { dest, src, st },
    });
  }

  private async tryLink(src: string, dest: string): Promise<boolean> {
    try {
      await link(src, dest);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
      // Another filesystem, or protected_hardlinks: copy from now on.
      this.linkFiles = false;
      return false;
    }
  }

  private async applyMeta({ dest, src, st }: Pending): Promise<void> {
    await lchown(dest, Number(st.uid), Number(st.gid));
    // chown clears setuid/setgid, so the mode comes after it.
    await chmod(dest, Number(st.mode & 0o7777n));
    for (const [name, value] of Object.entries(readXattrs(src, this.prefix) ?? {})) {
      await setAttribute(dest, name, value);
    }
    await lutimes(dest, secs(st.atimeNs), secs(st.mtimeNs));
  }

  async finish(): Promise<void> {
    const failed = await makeSpecialNodes(this.specials.map((s) => s.node));
    for (const { from } of this.specials) {
      if (!failed.has(from.dest)) await this.applyMeta(from);
    }
    for (const dir of [...this.dirs].reverse()) await this.applyMeta(dir);
  }
}

/**
 * Writes the merged view of `lowerDirs` (bottom first, overlay format) into `target`, an existing
 * empty directory, which also gets the metadata of the top layer's root. Device nodes that this
 * process may not make (no CAP_MKNOD) are left out.
 */
export async function materializeLayers(
  lowerDirs: readonly string[],
  target: string,
  xattrPrefix: XattrPrefix,
  opts: { linkFiles?: boolean } = {},
): Promise<void> {
  const topFirst = [...lowerDirs].reverse();
  const m = new Materializer(xattrPrefix, opts.linkFiles ?? true);
  await m.mergeDir(topFirst, target);
  await m.finish();

  const root = topFirst[0];
  if (root === undefined) return;
  const st = await lstat(root, { bigint: true });
  await lchown(target, Number(st.uid), Number(st.gid));
  await chmod(target, Number(st.mode & 0o7777n));
}
