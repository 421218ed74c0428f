import { posix } from 'node:path';
import type { TarEntry } from './entry.js';

/** Docker's untar names: rooted at the target (`/a` is `a`), '..' resolved lexically. */
export function untarNames(entry: TarEntry): TarEntry {
  const clean = (name: string): string => {
    let normalized = posix.normalize(name);
    if (normalized.startsWith('/')) normalized = posix.normalize(`.${normalized}`);
    // A '..' left at the front climbs out of the target: it stays, and the check refuses it.
    normalized = normalized.replace(/\/+$/, '');
    return normalized === '' ? '.' : normalized;
  };
  const path = clean(entry.path);
  if (entry.type !== 'hardlink' || entry.linkname === undefined) return { ...entry, path };
  return { ...entry, path, linkname: clean(entry.linkname) };
}
