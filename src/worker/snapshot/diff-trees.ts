/**
 * The walking differ, for when overlayfs is unavailable: compares a copy of the lower filesystem
 * (as it was before the step) with the tree the step left, and produces the same entries
 * diffUpperDir would for an overlay upper dir. Directories are never marked opaque; a removed
 * directory is one whiteout, as overlay records it.
 */

import type { BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { LayerEntry } from '../../image/tar/entry.js';
import {
  entryOrHardlink,
  HardlinkTracker,
  joinLayerPath,
  sortLayerEntries,
  whiteoutEntry,
  whiteoutPath,
} from './diff-upper-dir.js';
import { compareNames, readXattrs, type XattrPrefix } from './entry-from-stat.js';

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

export async function diffTrees(
  lowerDir: string,
  newDir: string,
  opts: DiffTreesOptions,
): Promise<LayerEntry[]> {
  const ignore = new Set((opts.ignore ?? []).map((p) => p.replace(/^\/+|\/+$/g, '')));
  const links = new HardlinkTracker();
  const whiteoutTime = opts.whiteoutMtimeNs ?? BigInt(Date.now()) * 1_000_000n;
  const prefix = opts.xattrPrefix;

  // Adds everything under a new directory, unconditionally.
  const addAll = async (hostDir: string, layerDir: string, out: LayerEntry[]): Promise<void> => {
    for (const name of (await readdir(hostDir)).sort(compareNames)) {
      const layerPath = joinLayerPath(layerDir, name);
      if (ignore.has(layerPath)) continue;
      const hostPath = path.join(hostDir, name);
      const st = await lstat(hostPath, { bigint: true });
      const made = entryOrHardlink(hostPath, layerPath, st, prefix, links);
      if (made === undefined) continue;
      out.push(made);
      if (st.isDirectory()) await addAll(hostPath, layerPath, out);
    }
  };

  // Returns the entries below one directory present on both sides (the directory itself excluded).
  const compareDir = async (oldDir: string, curDir: string, layerDir: string) => {
    const out: LayerEntry[] = [];
    const oldNames = new Set(await readdir(oldDir));
    const newNames = await readdir(curDir);

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
      if (!self) continue;

      const made = entryOrHardlink(newPath, layerPath, n, prefix, links);
      if (made === undefined) continue;
      out.push(made);
      if (bothDirs) out.push(...below);
      else if (n.isDirectory()) await addAll(newPath, layerPath, out);
    }
    return out;
  };

  return sortLayerEntries(await compareDir(lowerDir, newDir, ''));
}
