/**
 * Reads an overlayfs upper directory as the layer it stands for: whiteout devices become `.wh.`
 * entries, opaque directories get their `.wh..wh..opq` marker, hard links within the layer become
 * hard-link entries. Entries come out in the order the tar writer needs: a directory before its
 * children, siblings in byte order of their names.
 *
 * Each directory is read with synchronous calls (readdir, lstat, the xattrs), and the event loop
 * gets a turn between directories: through the promise API every file cost several trips
 * through libuv's thread pool, ten times the CPU of the calls themselves.
 */

import { type BigIntStats, lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type LayerEntry, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../../image/tar/entry.js';
import { checkUtf8Names } from '../../image/tar/utf8-names.js';
import {
  compareNames,
  entryFromStat,
  isOpaqueDir,
  isOverlayWhiteout,
  type XattrPrefix,
} from './entry-from-stat.js';

export interface DiffOptions {
  /** Layer paths (relative, '/'-separated) left out with everything below them. */
  ignore: string[];
  xattrPrefix: XattrPrefix;
}

/** Tracks (dev, ino) of multiply-linked files so later names become hard-link entries. */
export class HardlinkTracker {
  private readonly first = new Map<string, string>();

  /** The earlier layer path of the same inode, or undefined (and remembers this one). */
  link(st: BigIntStats, layerPath: string): string | undefined {
    if (st.nlink < 2n || st.isDirectory()) return undefined;
    const key = `${st.dev}:${st.ino}`;
    const earlier = this.first.get(key);
    if (earlier === undefined) this.first.set(key, layerPath);
    return earlier;
  }
}

/**
 * A whiteout entry: Docker's overlay converter and BuildKit write an empty regular file with mode
 * 0600 owned by root, stamped with the time of the deletion.
 */
export function whiteoutEntry(layerPath: string, mtimeNs: bigint): LayerEntry {
  return {
    entry: { path: layerPath, type: 'file', mode: 0o600, uid: 0, gid: 0, size: 0, mtimeNs },
    source: { kind: 'none' },
  };
}

/** The `.wh.` name for a deleted `layerPath`. */
export function whiteoutPath(layerPath: string): string {
  const slash = layerPath.lastIndexOf('/');
  return `${layerPath.slice(0, slash + 1)}${WHITEOUT_PREFIX}${layerPath.slice(slash + 1)}`;
}

export function joinLayerPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** The entry for a file, or a hard-link entry when the inode was already written in this layer. */
export function entryOrHardlink(
  hostPath: string,
  layerPath: string,
  st: BigIntStats,
  prefix: XattrPrefix,
  links: HardlinkTracker,
): LayerEntry | undefined {
  const made = entryFromStat(hostPath, layerPath, st, prefix);
  if (made === undefined) return undefined;

  const earlier = links.link(st, layerPath);
  if (earlier === undefined) return made;
  const entry = { ...made.entry, type: 'hardlink' as const, size: 0, linkname: earlier };
  return { entry, source: { kind: 'none' } };
}

/** A directory's children, in the order of the names they have in the tar, and where the walk is. */
interface DirFrame {
  children: Child[];
  next: number;
}

interface Child {
  hostPath: string;
  layerPath: string;
  st: BigIntStats;
  /** `.wh.<name>` for a whiteout, else the name: what the child sorts by in the tar. */
  tarName: string;
}

function readChildren(hostDir: string, layerDir: string, ignore: Set<string>): DirFrame {
  const children: Child[] = [];
  const names = readdirSync(hostDir);
  checkUtf8Names(hostDir, names, layerDir, 'layer');
  for (const name of names) {
    const layerPath = joinLayerPath(layerDir, name);
    if (ignore.has(layerPath)) continue;
    const hostPath = path.join(hostDir, name);
    const st = lstatSync(hostPath, { bigint: true });
    const tarName = isOverlayWhiteout(st) ? `${WHITEOUT_PREFIX}${name}` : name;
    children.push({ hostPath, layerPath, st, tarName });
  }
  children.sort((a, b) => compareNames(a.tarName, b.tarName));
  return { children, next: 0 };
}

/**
 * The entries of an upper directory in tar order (what sortLayerEntries gives), each as soon as
 * its directory is read, so a layer's tar and its compressor start while the walk goes on.
 * Depth first, each directory's children by the names they have in the tar and an opaque marker
 * right after its directory: that is tar order without sorting the whole list. The first name of
 * a multiply-linked inode is then also the first in the tar, so every hard-link entry points at
 * an earlier one.
 */
export async function* walkUpperDir(
  upperDir: string,
  opts: DiffOptions,
): AsyncGenerator<LayerEntry, void, undefined> {
  const ignore = new Set(opts.ignore.map((p) => p.replace(/^\/+|\/+$/g, '')));
  const links = new HardlinkTracker();
  // An explicit stack, not nested generators: those pass every entry up through each level.
  const stack = [readChildren(upperDir, '', ignore)];
  for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
    const child = frame.children[frame.next++];
    if (child === undefined) {
      stack.pop();
      continue;
    }
    const { hostPath, layerPath, st } = child;
    if (isOverlayWhiteout(st)) {
      yield whiteoutEntry(whiteoutPath(layerPath), st.mtimeNs);
      continue;
    }
    const made = entryOrHardlink(hostPath, layerPath, st, opts.xattrPrefix, links);
    if (made === undefined) continue;
    yield made;

    if (st.isDirectory()) {
      if (isOpaqueDir(hostPath, opts.xattrPrefix)) {
        yield whiteoutEntry(`${layerPath}/${OPAQUE_WHITEOUT}`, st.mtimeNs);
      }
      // The event loop gets a turn between directories.
      await nextTurn();
      stack.push(readChildren(hostPath, layerPath, ignore));
    }
  }
}

/** The entries of an upper directory in tar order, all at once. */
export async function diffUpperDir(upperDir: string, opts: DiffOptions): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  for await (const entry of walkUpperDir(upperDir, opts)) out.push(entry);
  return out;
}

/**
 * Puts entries in tar order: parents before children, siblings by byte order of name. An opaque
 * marker sorts right after its directory, as containerd writes it, so an extractor clears the
 * directory before filling it.
 */
export function sortLayerEntries(entries: LayerEntry[]): LayerEntry[] {
  const key = (p: string): string[] => p.split('/').map((c) => (c === OPAQUE_WHITEOUT ? '' : c));
  const cmp = (a: LayerEntry, b: LayerEntry): number => {
    const ka = key(a.entry.path);
    const kb = key(b.entry.path);
    for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
      const c = compareNames(ka[i] as string, kb[i] as string);
      if (c !== 0) return c;
    }
    return ka.length - kb.length;
  };
  return [...entries].sort(cmp);
}
