/**
 * What extraction applies to an entry once it exists: owner, xattrs and times. What a file system
 * or an unprivileged extractor refuses (an owner outside the mapped ids, an xattr namespace) is a
 * warning, counted per kind so a layer of thousands of such files gives one line.
 */
import { lchownSync, lutimesSync } from 'node:fs';
import { setAttributeSync } from 'fs-xattr';
import type { TarEntry } from './entry.js';

export class EntryAttributes {
  private readonly tally = new Map<string, { message: string; count: number }>();

  constructor(
    private readonly chown: boolean,
    private readonly xattrs: boolean,
  ) {}

  /** The entry's owner, then its xattrs (never overlayfs' own). */
  ownerAndXattrs(path: string, entry: TarEntry): void {
    // chown clears setuid bits and security.capability, so it goes first.
    this.owner(path, entry);
    if (!this.xattrs || entry.xattrs === undefined) return;
    for (const [name, value] of Object.entries(entry.xattrs)) {
      // overlayfs keeps its own state (opaque, redirect, metacopy) in these namespaces; a layer
      // that carried them could make the mounted tree differ from what its entries say.
      if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
        this.warn(`xattr:${name}`, `ignored overlayfs xattr ${name} on '${entry.path}'`);
        continue;
      }
      try {
        setAttributeSync(path, name, value);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        this.warn(
          `xattr:${name}:${code}`,
          `could not set xattr ${name} on '${entry.path}': ${code}`,
        );
      }
    }
  }

  /** The entry's owner, when this extractor sets owners at all. */
  owner(path: string, entry: TarEntry): void {
    if (!this.chown) return;
    try {
      lchownSync(path, entry.uid, entry.gid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EINVAL') throw err;
      // EINVAL: the id is not mapped in this user namespace (a rootless build maps only the
      // user's subordinate range); the file stays owned by the extracting user, root in the build.
      const why = code === 'EINVAL' ? ': the id is outside the ids this user namespace maps' : '';
      this.warn(
        `chown:${code}`,
        `could not chown '${entry.path}' to ${entry.uid}:${entry.gid}${why}, so it is owned by root`,
      );
    }
  }

  /** Counts a warning under `key`; the first message of each key is the one shown. */
  warn(key: string, message: string): void {
    const existing = this.tally.get(key);
    if (existing === undefined) this.tally.set(key, { message, count: 1 });
    else existing.count++;
  }

  /** One line per kind of warning, with how many more there were like it. */
  warnings(): string[] {
    return [...this.tally.values()].map(({ message, count }) =>
      count > 1 ? `${message} (and ${count - 1} more like it)` : message,
    );
  }
}

/** Sets an entry's mtime (and atime) on what it made, without following a symlink. */
export function setEntryTimes(path: string, entry: TarEntry): void {
  // Seconds as a double keep about a microsecond of precision: finer is lost here.
  const whole = entry.mtimeNs / 1_000_000_000n;
  const seconds = Number(whole) + Number(entry.mtimeNs - whole * 1_000_000_000n) / 1e9;
  lutimesSync(path, seconds, seconds);
}
