import { createHash, type Hash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { goMatch, hasWildcard } from '../worker/fileops/path-match.js';
import type { StatCache } from './stat-cache.js';

/** Opens a file's bytes; injectable so tests can count (or forbid) content reads. */
export type ContentReader = (file: string) => AsyncIterable<Buffer>;

const readContent: ContentReader = (file) => fs.createReadStream(file);

export interface ContextHasherOptions {
  /** Digests of files whose stat did not change since an earlier build. */
  statCache?: StatCache;
  reader?: ContentReader;
}

/**
 * The content digest of what a COPY selects from a directory: for every file below each matched
 * source, its path, type, permission bits, size, link target and bytes. Owners and mtimes are
 * left out (COPY from the context writes 0:0 and keeps mtimes, which Docker does not key on).
 * Ignored paths are skipped the same way the copy skips them.
 *
 * One hasher serves a whole build: a file named by several COPY instructions is read once, and
 * with a stat cache a file unchanged since an earlier build is not read at all.
 */
export class ContextHasher {
  private readonly digests = new Map<string, Promise<string>>();
  private readonly reader: ContentReader;

  constructor(
    private readonly root: string,
    private readonly ignore: (relPath: string) => boolean,
    private readonly options: ContextHasherOptions = {},
  ) {
    this.reader = options.reader ?? readContent;
  }

  async hash(sources: string[]): Promise<string> {
    const hash = createHash('sha256');
    for (const source of sources) {
      hash.update(`source\0${source}\0`);
      for (const rel of await expand(this.root, source)) {
        if (rel !== '' && this.ignore(rel)) continue;
        await this.hashTree(rel, hash, true);
      }
    }
    return `sha256:${hash.digest('hex')}`;
  }

  /** Persists what the stat cache learned (a no-op without one). */
  async save(): Promise<void> {
    await this.options.statCache?.save();
  }

  private async hashTree(rel: string, hash: Hash, top: boolean): Promise<void> {
    const full = path.join(this.root, rel);
    // A source named directly is followed when it is a symlink; links met inside are kept.
    const opts = { bigint: true } as const;
    const st = await (top ? fsp.stat(full, opts) : fsp.lstat(full, opts)).catch(() => undefined);
    if (!st) {
      hash.update(`missing\0${rel}\0`);
      return;
    }
    const mode = (Number(st.mode) & 0o7777).toString(8);
    if (st.isSymbolicLink()) {
      hash.update(`link\0${rel}\0${mode}\0${await fsp.readlink(full)}\0`);
    } else if (st.isDirectory()) {
      hash.update(`dir\0${rel}\0${mode}\0`);
      const names = (await fsp.readdir(full)).sort();
      for (const name of names) {
        const child = rel === '' ? name : `${rel}/${name}`;
        if (this.ignore(child)) continue;
        await this.hashTree(child, hash, false);
      }
    } else if (st.isFile()) {
      hash.update(`file\0${rel}\0${mode}\0${st.size}\0`);
      hash.update((await this.fileDigest(rel, full, st)).replace(/^sha256:/, ''));
    } else {
      hash.update(`special\0${rel}\0${mode}\0${st.rdev}\0`);
    }
  }

  private fileDigest(rel: string, full: string, st: BigIntStats): Promise<string> {
    let digest = this.digests.get(rel);
    if (!digest) {
      digest = this.readDigest(rel, full, st);
      this.digests.set(rel, digest);
    }
    return digest;
  }

  private async readDigest(rel: string, full: string, st: BigIntStats): Promise<string> {
    const known = this.options.statCache?.lookup(rel, st);
    if (known) return known;
    const content = createHash('sha256');
    for await (const chunk of this.reader(full)) content.update(chunk);
    const digest = `sha256:${content.digest('hex')}`;
    this.options.statCache?.remember(rel, st, digest);
    return digest;
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
        for (const name of names.sort())
          if (goMatch(part, name)) next.push(path.posix.join(prefix, name));
      }
    }
    prefixes = next;
  }
  return prefixes;
}
