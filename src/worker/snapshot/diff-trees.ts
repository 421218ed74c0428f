/**
 * The walking differ, for when overlayfs is unavailable: compares a copy of the lower filesystem
 * (as it was before the step) with the tree the step left, and produces the same entries
 * diffUpperDir would for an overlay upper dir. Directories are never marked opaque; a removed
 * directory is one whiteout, as overlay records it.
 */

import { type BigIntStats, lstatSync } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { LayerEntry } from '../../image/tar/entry.js';
import { checkUtf8Names } from '../../image/tar/utf8-names.js';
import { joinLayerPath, sortLayerEntries, whiteoutEntry, whiteoutPath } from './diff-upper-dir.js';
import { compareNames, entryFromStat, readXattrs, type XattrPrefix } from './entry-from-stat.js';

export interface DiffTreesOptions {
  ignore?: string[];
  xattrPrefix: XattrPrefix;
  /** Time stamped on whiteouts; defaults to now. */
  whiteoutMtimeNs?: bigint;
}

async function lstatOrUndefined(p: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(p, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    const ba = Buffer.alloc(1 << 16);
    const bb = Buffer.alloc(1 << 16);
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, ba.length), fb.read(bb, 0, bb.length)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

function sameXattrs(a: Record<string, Buffer> = {}, b: Record<string, Buffer> = {}): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => {
    const va = a[k];
    const vb = b[k];
    return va !== undefined && vb !== undefined && va.equals(vb);
  });
}

/**
 * Whether a path that exists on both sides with the same type changed. Equal size and mtime are
 * not proof of equal bytes (a tool may restore the mtime), so unless it is the very same inode
 * with an unchanged ctime the bytes are compared.
 */
async function changed(
  oldPath: string,
  newPath: string,
  o: BigIntStats,
  n: BigIntStats,
  prefix: XattrPrefix,
): Promise<boolean> {
  if ((o.mode & 0o170000n) !== (n.mode & 0o170000n)) return true;
  if (o.mode !== n.mode || o.uid !== n.uid || o.gid !== n.gid) return true;
  if (!n.isDirectory() && o.mtimeNs !== n.mtimeNs) return true;
  if (o.isSymbolicLink()) return (await readlink(oldPath)) !== (await readlink(newPath));
  if (o.isCharacterDevice() || o.isBlockDevice()) {
    if (o.rdev !== n.rdev) return true;
  }
  if (!sameXattrs(readXattrs(oldPath, prefix), readXattrs(newPath, prefix))) {
    return true;
  }
  if (n.isDirectory()) return o.mtimeNs !== n.mtimeNs;
  if (!n.isFile()) return false;
  if (o.size !== n.size) return true;
  if (o.dev === n.dev && o.ino === n.ino && o.ctimeNs === n.ctimeNs) return false;
  return !(await sameBytes(oldPath, newPath));
}

/** A file of the new tree whose inode has other names, keyed by that inode. */
interface NamedInode {
  key: string;
  hostPath: string;
  layerPath: string;
  stat: BigIntStats;
}

const inodeKey = (st: BigIntStats): string | undefined =>
  st.nlink > 1n && !st.isDirectory() ? `${st.dev}:${st.ino}` : undefined;

export async function diffTrees(
  lowerDir: string,
  newDir: string,
  opts: DiffTreesOptions,
): Promise<LayerEntry[]> {
  const ignore = new Set((opts.ignore ?? []).map((p) => p.replace(/^\/+|\/+$/g, '')));
  const whiteoutTime = opts.whiteoutMtimeNs ?? BigInt(Date.now()) * 1_000_000n;
  const prefix = opts.xattrPrefix;
  /** Inode of each emitted entry that has other names. */
  const inodes = new Map<LayerEntry, string>();
  /** Unchanged names of multiply-linked inodes, which a changed name may pull in. */
  const unchanged = new Map<string, NamedInode[]>();
  const emitted = new Set<string>();

  const emit = (hostPath: string, layerPath: string, st: BigIntStats, out: LayerEntry[]) => {
    const made = entryFromStat(hostPath, layerPath, st, prefix);
    if (made === undefined) return false;
    const key = inodeKey(st);
    if (key !== undefined) inodes.set(made, key);
    emitted.add(layerPath);
    out.push(made);
    return true;
  };

  // Adds everything under a new directory, unconditionally.
  const addAll = async (hostDir: string, layerDir: string, out: LayerEntry[]): Promise<void> => {
    const names = await readdir(hostDir);
    checkUtf8Names(hostDir, names, layerDir, 'layer');
    for (const name of names.sort(compareNames)) {
      const layerPath = joinLayerPath(layerDir, name);
      if (ignore.has(layerPath)) continue;
      const hostPath = path.join(hostDir, name);
      const st = await lstat(hostPath, { bigint: true });
      if (emit(hostPath, layerPath, st, out) && st.isDirectory()) {
        await addAll(hostPath, layerPath, out);
      }
    }
  };

  // Returns the entries below one directory present on both sides (the directory itself excluded).
  const compareDir = async (oldDir: string, curDir: string, layerDir: string) => {
    const out: LayerEntry[] = [];
    const oldNames = new Set(await readdir(oldDir));
    const newNames = await readdir(curDir);
    checkUtf8Names(curDir, newNames, layerDir, 'layer');

    for (const name of [...oldNames].sort(compareNames)) {
      const layerPath = joinLayerPath(layerDir, name);
      if (!ignore.has(layerPath) && !newNames.includes(name)) {
        out.push(whiteoutEntry(whiteoutPath(layerPath), whiteoutTime));
      }
    }

    for (const name of newNames.sort(compareNames)) {
      const layerPath = joinLayerPath(layerDir, name);
      if (ignore.has(layerPath)) continue;
      const oldPath = path.join(oldDir, name);
      const newPath = path.join(curDir, name);
      const n = await lstat(newPath, { bigint: true });
      const o = oldNames.has(name) ? await lstatOrUndefined(oldPath) : undefined;
      const bothDirs = o?.isDirectory() === true && n.isDirectory();

      const below: LayerEntry[] = [];
      if (bothDirs) below.push(...(await compareDir(oldPath, newPath, layerPath)));
      const self =
        o === undefined || (await changed(oldPath, newPath, o, n, prefix)) || below.length > 0;
      if (!self) {
        const key = inodeKey(n);
        if (key !== undefined) {
          const names = unchanged.get(key) ?? [];
          names.push({ key, hostPath: newPath, layerPath, stat: n });
          unchanged.set(key, names);
        }
        continue;
      }

      if (!emit(newPath, layerPath, n, out)) continue;
      if (bothDirs) out.push(...below);
      else if (n.isDirectory()) await addAll(newPath, layerPath, out);
    }
    return out;
  };

  const entries = await compareDir(lowerDir, newDir, '');
  entries.push(...linkedNames(newDir, [...new Set(inodes.values())], unchanged, emit, emitted));
  return linkSharedInodes(sortLayerEntries(entries), inodes);
}

/**
 * The unchanged names of inodes the step gave a new or changed name (`ln /etc/passwd /p2`), with
 * the directories above them the layer lacks. Overlayfs copies the linked file up, so the upper
 * dir (and a layer from Docker or BuildKit) holds both names; without them the new name would
 * be a second copy. The walking differ cannot tell which old name was the link's source, so
 * every name of the inode comes along.
 */
function linkedNames(
  newDir: string,
  keys: string[],
  unchanged: Map<string, NamedInode[]>,
  emit: (hostPath: string, layerPath: string, st: BigIntStats, out: LayerEntry[]) => boolean,
  emitted: Set<string>,
): LayerEntry[] {
  const out: LayerEntry[] = [];
  for (const key of keys) {
    for (const named of unchanged.get(key) ?? []) {
      const parts = named.layerPath.split('/');
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        if (emitted.has(dir)) continue;
        const hostDir = path.join(newDir, dir);
        emit(hostDir, dir, lstatSync(hostDir, { bigint: true }), out);
      }
      emit(named.hostPath, named.layerPath, named.stat, out);
    }
  }
  return out;
}

/**
 * In tar order, the first name of each inode keeps its content and every later name becomes a
 * hard-link entry pointing at it, so an extractor always meets the target first.
 */
function linkSharedInodes(entries: LayerEntry[], inodes: Map<LayerEntry, string>): LayerEntry[] {
  const first = new Map<string, string>();
  return entries.map((made) => {
    const key = inodes.get(made);
    if (key === undefined) return made;
    const earlier = first.get(key);
    if (earlier === undefined) {
      first.set(key, made.entry.path);
      return made;
    }
    const entry = { ...made.entry, type: 'hardlink' as const, size: 0, linkname: earlier };
    return { entry, source: { kind: 'none' as const } };
  });
}
