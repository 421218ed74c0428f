import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Placed } from './output-staging.js';

/**
 * Makes the missing directories of `dir` and says which it made (outermost first), so a failed
 * build can remove them again: it must leave nothing behind outside the outputs that succeeded.
 */
export async function makeParents(dir: string, mode?: number): Promise<string[]> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    if (
      await fsp.lstat(at).then(
        () => true,
        () => false,
      )
    )
      break;
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  const made: string[] = [];
  for (const at of missing) {
    try {
      await fsp.mkdir(at, mode === undefined ? {} : { mode });
      made.push(at);
    } catch (err) {
      // Another process made it meanwhile: it is not ours to remove.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return made;
}

/** Removes directories makeParents made, innermost first, where they are still empty. */
export async function removeMade(made: string[]): Promise<void> {
  for (const dir of [...made].reverse()) await fsp.rmdir(dir).catch(() => {});
}

/** A unique hidden name beside `dest` (in `dir`, which must be on the same filesystem). */
export function tempName(dir: string, dest: string, kind: string): string {
  return path.join(dir, `.${path.basename(dest)}.kiln-${kind}-${randomBytes(4).toString('hex')}`);
}

/** Codes of link() that mean "no hard link here" (none on this filesystem, or across mounts). */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EMLINK', 'EXDEV']);

/**
 * Codes of rename() over an existing file that a write into the file may still get past: the file
 * is a mount point (EBUSY; Kubernetes bind-mounts /dev/termination-log), on another mount (EXDEV),
 * or protected by its directory's sticky bit (EPERM).
 */
const WRITE_INSTEAD = new Set(['EBUSY', 'EXDEV', 'EPERM']);

/**
 * Renames a finished file (or a new directory) over `dest`. A file that was there is kept under a
 * second name (a hard link, so `dest` is never missing) until the build is over. A regular file
 * that cannot be renamed over gets the new content written into it instead (see writeInto).
 */
export async function placePath(tmp: string, dest: string): Promise<Placed> {
  const before = await fsp.lstat(dest).catch(() => undefined);
  let backup: string | undefined;
  if (before) {
    backup = tempName(path.dirname(dest), dest, 'old');
    await fsp.link(dest, backup).catch(async (err: NodeJS.ErrnoException) => {
      // Some filesystems have no hard links; a copy keeps the old bytes as well.
      if (!NO_LINK.has(err.code ?? '')) throw err;
      await fsp.cp(dest, backup as string, { verbatimSymlinks: true, preserveTimestamps: true });
    });
  }
  try {
    await fsp.rename(tmp, dest);
  } catch (err) {
    if (backup) await fsp.rm(backup, { force: true });
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (before?.isFile() && WRITE_INSTEAD.has(code)) return writeInto(tmp, dest);
    throw err;
  }
  return {
    undo: async () => {
      if (backup) await fsp.rename(backup, dest);
      else await fsp.rm(dest, { recursive: true, force: true });
    },
    keep: async () => {
      if (backup) await fsp.rm(backup, { force: true });
    },
  };
}

/**
 * Writes the finished file `tmp` into the existing regular file `dest` (truncated first, synced
 * after), as Docker and kaniko write every file. Not atomic: a reader may see it half-written.
 * The old content is kept in a copy beside it (a hard link would change with it), so it can
 * still be taken back.
 */
async function writeInto(tmp: string, dest: string): Promise<Placed> {
  const backup = tempName(path.dirname(dest), dest, 'old');
  await fsp.copyFile(dest, backup, fs.constants.COPYFILE_EXCL);
  const putBack = async (): Promise<void> => {
    await copyInto(backup, dest);
    await fsp.rm(backup, { force: true });
  };
  try {
    await copyInto(tmp, dest);
  } catch (err) {
    await putBack().catch(() => {});
    throw err;
  }
  await fsp.rm(tmp, { force: true });
  return { undo: putBack, keep: () => fsp.rm(backup, { force: true }) };
}

/** Copies the content of `from` into the existing file `to`, replacing what it held. */
async function copyInto(from: string, to: string): Promise<void> {
  const source = await fsp.open(from, 'r');
  try {
    const target = await fsp.open(to, 'w');
    try {
      const buffer = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await source.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        await target.write(buffer, 0, bytesRead);
      }
      await target.sync();
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

interface Moved {
  to: string;
  /** Where the entry that `to` replaced waits, if there was one. */
  backup?: string;
}

/**
 * Moves a finished tree into an existing directory entry by entry (directories on both sides are
 * merged, anything else replaced), as buildx writes a local output. Each replaced entry is moved
 * into `backups` first, so the merge can be undone: after a failure half-way, or later.
 */
export async function mergeDir(from: string, into: string, backups: string): Promise<Placed> {
  const moved: Moved[] = [];
  let count = 0;
  const moveAside = async (entry: string): Promise<string> => {
    if (count === 0) await fsp.mkdir(backups, { mode: 0o700 });
    const backup = path.join(backups, String(count++));
    await fsp.rename(entry, backup);
    return backup;
  };
  const merge = async (fromDir: string, intoDir: string): Promise<void> => {
    for (const name of await fsp.readdir(fromDir)) {
      const source = path.join(fromDir, name);
      const to = path.join(intoDir, name);
      const there = await fsp.lstat(to).catch(() => undefined);
      const here = await fsp.lstat(source);
      if (there?.isDirectory() && here.isDirectory()) {
        await merge(source, to);
        continue;
      }
      const entry: Moved = { to };
      if (there) entry.backup = await moveAside(to);
      moved.push(entry);
      await fsp.rename(source, to);
    }
  };
  const undo = async (): Promise<void> => {
    for (const entry of [...moved].reverse()) {
      await fsp.rm(entry.to, { recursive: true, force: true });
      if (entry.backup) await fsp.rename(entry.backup, entry.to);
    }
    moved.length = 0;
    await fsp.rm(backups, { recursive: true, force: true });
  };

  try {
    await merge(from, into);
  } catch (err) {
    await undo();
    throw err;
  }
  await fsp.rm(from, { recursive: true, force: true });
  return { undo, keep: () => fsp.rm(backups, { recursive: true, force: true }) };
}
