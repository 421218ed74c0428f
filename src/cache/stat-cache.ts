import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';

/** What a stat must match for a remembered content digest to be trusted. */
type Entry = [
  dev: string,
  ino: string,
  size: string,
  mtimeNs: string,
  ctimeNs: string,
  mode: number,
  digest: string,
];

interface StatCacheFile {
  version: 1;
  context: string;
  /** The file-system clock when the build that wrote this file started (ns since the epoch). */
  since: string;
  entries: Record<string, Entry>;
}

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
 */
export class StatCache {
  private readonly entries: Map<string, Entry>;
  private dirty = false;

  private constructor(
    private readonly file: string,
    private readonly context: string,
    private readonly since: bigint,
    previous: Record<string, Entry>,
  ) {
    this.entries = new Map(Object.entries(previous));
  }

  /** The stat cache file of `contextDir` inside `cacheDir`. */
  static fileFor(cacheDir: string, contextDir: string): string {
    const hex = createHash('sha256').update(path.resolve(contextDir)).digest('hex');
    return path.join(cacheDir, 'context-stats', `${hex}.json`);
  }

  /**
   * Loads the record (a missing or corrupt one starts empty) and reads the file-system clock by
   * touching a marker beside it, before any context file is read.
   */
  static async load(cacheDir: string, contextDir: string): Promise<StatCache> {
    const file = StatCache.fileFor(cacheDir, contextDir);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const since = await fileSystemNow(path.join(path.dirname(file), `.clock-${process.pid}`));
    const parsed = await readJsonFile(file);
    const context = path.resolve(contextDir);
    const valid = isStatCacheFile(parsed) && parsed.context === context;
    return new StatCache(file, context, since, valid ? parsed.entries : {});
  }

  /** The remembered digest of `rel` when its current stat matches exactly. */
  lookup(rel: string, st: BigIntStats): string | undefined {
    const entry = this.entries.get(rel);
    if (!entry) return undefined;
    const now = entryOf(st, entry[6]);
    return now.every((v, i) => v === entry[i]) ? entry[6] : undefined;
  }

  /** Remembers a digest just computed from the file whose stat (taken before reading) is `st`. */
  remember(rel: string, st: BigIntStats, digest: string): void {
    if (isRacy(st, this.since)) {
      if (this.entries.delete(rel)) this.dirty = true;
      return;
    }
    this.entries.set(rel, entryOf(st, digest));
    this.dirty = true;
  }

  /** Writes the record atomically when anything changed; another build's write may win. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const data: StatCacheFile = {
      version: 1,
      context: this.context,
      since: this.since.toString(),
      entries: Object.fromEntries(this.entries),
    };
    await writeFileAtomic(this.file, JSON.stringify(data));
    this.dirty = false;
  }
}

function entryOf(st: BigIntStats, digest: string): Entry {
  return [
    st.dev.toString(),
    st.ino.toString(),
    st.size.toString(),
    st.mtimeNs.toString(),
    st.ctimeNs.toString(),
    Number(st.mode),
    digest,
  ];
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

function isStatCacheFile(value: unknown): value is StatCacheFile {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<StatCacheFile>;
  if (v.version !== 1 || typeof v.context !== 'string' || typeof v.since !== 'string') return false;
  if (typeof v.entries !== 'object' || v.entries === null) return false;
  return Object.values(v.entries).every(
    (e) => Array.isArray(e) && e.length === 7 && typeof e[6] === 'string',
  );
}
