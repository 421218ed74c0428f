import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { decodeStatRecords, encodeStatRecords, type StatRecords } from './stat-cache-file.js';
import { StatRecordTable } from './stat-record-table.js';

/**
 * Remembers, per build context, the content digest of each regular file together with the stat
 * it had when it was read, the way git's index does: a later build that finds the same device,
 * inode, size, mtime, ctime and mode trusts the digest and does not read the file.
 *
 * Timestamps have a granularity (a clock tick, or a whole second on some file systems), so a file
 * written in the same tick as it was read can change again without its stat changing. Such
 * "racy" files (mtime or ctime not older than the start of the build that read them) are never
 * remembered; the next build reads them again. ctime is checked too because a program can restore
 * mtime after a rewrite, but only the kernel sets ctime.
 *
 * The records live in flat typed arrays (stat-record-table.ts, stat-cache-file.ts) rather than
 * one object per file: a context of 50,000 files loads in a few milliseconds, where parsing the
 * same as JSON took half a second, and a lookup compares six 64-bit values without converting any.
 */
export class StatCache {
  private readonly table: StatRecordTable;
  private dirty = false;

  private constructor(
    /** The file's path without its extension. */
    private readonly base: string,
    private readonly context: string,
    private readonly since: bigint,
    previous: StatRecords | undefined,
  ) {
    this.table = new StatRecordTable(previous);
  }

  /** The stat cache file of `contextDir` inside `cacheDir`. */
  static fileFor(cacheDir: string, contextDir: string): string {
    return `${fileBase(cacheDir, contextDir)}.stats`;
  }

  /**
   * Loads the record (a missing, corrupt or foreign one starts empty) and reads the file-system
   * clock by touching a marker beside it, before any context file is read.
   */
  static async load(cacheDir: string, contextDir: string): Promise<StatCache> {
    const base = fileBase(cacheDir, contextDir);
    await fsp.mkdir(path.dirname(base), { recursive: true });
    const since = await fileSystemNow(path.join(path.dirname(base), `.clock-${process.pid}`));
    const context = path.resolve(contextDir);
    const data = await fsp.readFile(`${base}.stats`).catch(() => undefined);
    const records = data === undefined ? undefined : decodeStatRecords(data);
    const valid = records !== undefined && records.context === context;
    return new StatCache(base, context, since, valid ? records : undefined);
  }

  /** The remembered sha256 (hex) of `rel` when its current stat matches exactly. */
  lookup(rel: string, st: BigIntStats): string | undefined {
    const i = this.table.find(rel);
    if (i === undefined || !this.table.matches(i, st)) return undefined;
    return this.table.digestOf(i);
  }

  /** Remembers a sha256 (hex) just computed from the file whose stat, taken before, is `st`. */
  remember(rel: string, st: BigIntStats, digest: string): void {
    const i = this.table.find(rel);
    // NUL separates paths in the file; no name read from a directory contains one.
    if (isRacy(st, this.since) || rel.includes('\0')) {
      if (i !== undefined) {
        this.table.forget(i);
        this.dirty = true;
      }
      return;
    }
    this.table.set(i ?? this.table.add(rel), st, digest);
    this.dirty = true;
  }

  /**
   * Writes the record atomically when anything changed (a rebuild that read no file writes
   * nothing); another build's write may win. The JSON file of version 1 goes with it.
   */
  async save(): Promise<void> {
    if (!this.dirty) return;
    await writeFileAtomic(
      `${this.base}.stats`,
      encodeStatRecords(this.table.toRecords(this.context)),
    );
    await fsp.rm(`${this.base}.json`, { force: true });
    this.dirty = false;
  }
}

/** The stat cache file's path without its extension: one file per context directory. */
function fileBase(cacheDir: string, contextDir: string): string {
  const hex = createHash('sha256').update(path.resolve(contextDir)).digest('hex');
  return path.join(cacheDir, 'context-stats', hex);
}

/**
 * Not older than `since`, compared at the file's own granularity: a timestamp with no nanoseconds
 * may come from a file system that keeps whole seconds, so it is compared by the second.
 */
function isRacy(st: BigIntStats, since: bigint): boolean {
  const second = 1_000_000_000n;
  return [st.mtimeNs, st.ctimeNs].some((t) =>
    t % second === 0n ? t / second >= since / second : t >= since,
  );
}

/** The file-system clock: the mtime of a freshly written marker file. */
async function fileSystemNow(marker: string): Promise<bigint> {
  await fsp.writeFile(marker, '');
  try {
    return (await fsp.stat(marker, { bigint: true })).mtimeNs;
  } finally {
    await fsp.rm(marker, { force: true });
  }
}
