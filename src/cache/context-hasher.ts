import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { checkUtf8Names } from '../image/tar/utf8-names.js';
import { goMatch, hasWildcard } from '../worker/fileops/path-match.js';
import { digestFile } from './file-digest.js';
import { OrderedHashFeed } from './hash-feed.js';
import type { StatCache } from './stat-cache.js';

/**
 * The sha256 (hex) of a regular file's bytes, given its size when stat'ed; injectable so tests
 * can count (or forbid) content reads.
 */
export type ContentDigester = (file: string, size: bigint) => string | Promise<string>;

export interface ContextHasherOptions {
  /** Digests of files whose stat did not change since an earlier build. */
  statCache?: StatCache;
  digester?: ContentDigester;
}

/** The walk gives the event loop a turn after this many entries (about 10 ms of stats). */
const ENTRIES_PER_TURN = 2048;
const STAT_OPTIONS = { bigint: true, throwIfNoEntry: false } as const;

/**
 * The content digest of what a COPY selects from a directory: for every file below each matched
 * source, its path, type, permission bits, size, link target and bytes. Owners and mtimes are
 * left out (COPY from the context writes 0:0 and keeps mtimes, which Docker does not key on).
 * Ignored paths are skipped the same way the copy skips them.
 *
 * One hasher serves a whole build: a file named by several COPY instructions is read once, and
 * with a stat cache a file unchanged since an earlier build is not read at all.
 *
 * The walk uses the synchronous fs calls: checking a context is one stat per file, and through
 * fs/promises each costs a promise and a trip through the thread pool, ten times the stat itself
 * (50,000 files: 2.5 s of CPU against 0.25 s). It still yields to the event loop every few
 * thousand entries so that pulls and progress running beside it keep moving.
 */
export class ContextHasher {
  /** Digests read in this build (or being read), by context-relative path. */
  private readonly digests = new Map<string, string | Promise<string>>();
  private readonly digester: ContentDigester;
  private sinceTurn = 0;

  constructor(
    private readonly root: string,
    private readonly ignore: (relPath: string) => boolean,
    private readonly options: ContextHasherOptions = {},
  ) {
    this.digester = options.digester ?? digestFile;
  }

  /**
   * With `parents` (COPY --parents) the modes of each match's parent directories count too: the
   * copy recreates them in the image.
   */
  async hash(sources: string[], parents = false): Promise<string> {
    const hash = createHash('sha256');
    const feed = new OrderedHashFeed(hash);
    for (const source of sources) {
      feed.add(`source\0${source}\0`);
      for (const rel of await expand(this.root, source)) {
        if (rel !== '' && this.ignore(rel)) continue;
        if (parents) this.hashParents(rel, feed);
        // A source named directly is followed when it is a symlink; links met inside are kept.
        const full = path.join(this.root, rel);
        await this.hashEntry(rel, full, statOrUndefined(full, true), feed);
      }
    }
    await feed.finish();
    return `sha256:${hash.digest('hex')}`;
  }

  private hashParents(rel: string, feed: OrderedHashFeed): void {
    const parts = rel.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const st = statOrUndefined(path.join(this.root, parent), false);
      feed.add(`parent\0${parent}\0${st ? (Number(st.mode) & 0o7777).toString(8) : '-'}\0`);
    }
  }

  /** Persists what the stat cache learned (a no-op without one). */
  async save(): Promise<void> {
    await this.options.statCache?.save();
  }

  /** Hashes one entry; returns a promise only when it has to wait (a directory, a large read). */
  private hashEntry(
    rel: string,
    full: string,
    st: BigIntStats | undefined,
    feed: OrderedHashFeed,
  ): Promise<void> | undefined {
    if (!st) {
      feed.add(`missing\0${rel}\0`);
      return undefined;
    }
    const mode = (Number(st.mode) & 0o7777).toString(8);
    if (st.isFile()) {
      feed.add(`file\0${rel}\0${mode}\0${st.size}\0`);
      const digest = this.fileDigest(rel, full, st);
      if (typeof digest === 'string') {
        feed.add(digest);
        return undefined;
      }
      return feed.addLater(digest);
    }
    if (st.isDirectory()) {
      feed.add(`dir\0${rel}\0${mode}\0`);
      return this.hashChildren(rel, full, feed);
    }
    if (st.isSymbolicLink()) {
      feed.add(`link\0${rel}\0${mode}\0${fs.readlinkSync(full)}\0`);
    } else {
      feed.add(`special\0${rel}\0${mode}\0${st.rdev}\0`);
    }
    return undefined;
  }

  private async hashChildren(rel: string, full: string, feed: OrderedHashFeed): Promise<void> {
    const names = fs.readdirSync(full).sort();
    for (const name of names) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (this.ignore(child)) continue;
      checkUtf8Names(full, [name], rel, 'build context');
      const childPath = `${full}/${name}`;
      const wait = this.hashEntry(child, childPath, statOrUndefined(childPath, false), feed);
      if (wait) await wait;
      if (++this.sinceTurn >= ENTRIES_PER_TURN) {
        this.sinceTurn = 0;
        await nextTurn();
      }
    }
  }

  /** The file's digest: read earlier in this build, trusted from the stat cache, or read now. */
  private fileDigest(rel: string, full: string, st: BigIntStats): string | Promise<string> {
    const read = this.digests.get(rel);
    if (read !== undefined) return read;
    const known = this.options.statCache?.lookup(rel, st);
    if (known !== undefined) return known;

    const digest = this.digester(full, st.size);
    if (typeof digest === 'string') {
      this.remember(rel, st, digest);
      return digest;
    }
    const later = digest.then((hex) => {
      this.remember(rel, st, hex);
      return hex;
    });
    this.digests.set(rel, later);
    return later;
  }

  private remember(rel: string, st: BigIntStats, digest: string): void {
    this.digests.set(rel, digest);
    this.options.statCache?.remember(rel, st, digest);
  }
}

/** Hashes `sources` once, without a stat cache. */
export function hashSources(
  root: string,
  sources: string[],
  ignore: (relPath: string) => boolean,
): Promise<string> {
  return new ContextHasher(root, ignore).hash(sources);
}

/** stat (follow) or lstat; any failure reads as a missing entry. */
function statOrUndefined(full: string, follow: boolean): BigIntStats | undefined {
  try {
    return (follow ? fs.statSync(full, STAT_OPTIONS) : fs.lstatSync(full, STAT_OPTIONS)) as
      | BigIntStats
      | undefined;
  } catch {
    return undefined;
  }
}

async function expand(root: string, source: string): Promise<string[]> {
  const parts = source.split('/').filter((p) => p !== '' && p !== '.');
  let prefixes: string[] = [''];
  for (const part of parts) {
    const next: string[] = [];
    for (const prefix of prefixes) {
      if (part === '..') {
        next.push(path.posix.dirname(prefix) === '.' ? '' : path.posix.dirname(prefix));
      } else if (!hasWildcard(part)) {
        next.push(path.posix.join(prefix, part.replaceAll('\\', '')));
      } else {
        const names = await fsp.readdir(path.join(root, prefix)).catch(() => [] as string[]);
        for (const name of names.sort()) {
          if (!goMatch(part, name)) continue;
          checkUtf8Names(path.join(root, prefix), [name], prefix, 'build context');
          next.push(path.posix.join(prefix, name));
        }
      }
    }
    prefixes = next;
  }
  return prefixes;
}
