import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.js';

/**
 * Content-addressed blobs (layers, configs, manifests) in `<cacheDir>/blobs/sha256/<hex>`.
 * A blob is written to a temp file in the same directory tree and renamed into place only after
 * its digest was checked, so a killed process never leaves a truncated blob under a real name.
 */
export class BlobStore {
  readonly root: string;
  private readonly tmpDir: string;

  constructor(cacheDir: string) {
    this.root = path.join(cacheDir, 'blobs', 'sha256');
    this.tmpDir = path.join(cacheDir, 'tmp');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true });
    await fsp.mkdir(this.tmpDir, { recursive: true });
  }

  pathOf(digest: string): string {
    return path.join(this.root, hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      await fsp.access(this.pathOf(digest));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Whether the blob is stored with the size its descriptor gives: one stat, so cheap enough for
   * every export of a fully cached build. A stored blob of another size was damaged after it was
   * checked in (a full disk, a hand edit) and is removed, so that the next build makes or fetches
   * it again instead of exporting it.
   */
  async checkStored(digest: string, size: number): Promise<'present' | 'absent' | 'removed'> {
    const file = this.pathOf(digest);
    const st = await fsp.stat(file).catch(() => undefined);
    if (!st) return 'absent';
    if (st.size === size) return 'present';
    await fsp.rm(file, { force: true });
    return 'removed';
  }

  /** Whether the stored blob's bytes still have its digest (a full read: for failure paths). */
  async verify(digest: string): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of fs.createReadStream(this.pathOf(digest))) hash.update(chunk);
    } catch {
      return false;
    }
    return `sha256:${hash.digest('hex')}` === digest;
  }

  async remove(digest: string): Promise<void> {
    await fsp.rm(this.pathOf(digest), { force: true });
  }

  /** A fresh temp path on the same filesystem as the store, for writers that rename into it. */
  tempPath(): string {
    return path.join(this.tmpDir, `blob-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Moves a finished temp file into the store under its digest. */
  async adopt(tempFile: string, digest: string): Promise<string> {
    const target = this.pathOf(digest);
    await fsp.rename(tempFile, target);
    return target;
  }

  async putBuffer(data: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (await this.has(digest)) return digest;
    const tmp = this.tempPath();
    await fsp.writeFile(tmp, data);
    await this.adopt(tmp, digest);
    return digest;
  }

  /** Stores a stream whose digest is known in advance; fails (storing nothing) on a mismatch. */
  async putStream(stream: Readable, expected: string): Promise<void> {
    if (await this.has(expected)) {
      stream.resume();
      return;
    }
    const tmp = this.tempPath();
    const hash = createHash('sha256');
    stream.on('data', (chunk: Buffer) => hash.update(chunk));
    try {
      await pipeline(stream, fs.createWriteStream(tmp));
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== expected) {
        throw new BuildError('BLOB_DIGEST_MISMATCH', `blob ${expected} has digest ${actual}`);
      }
      await this.adopt(tmp, expected);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  async readBuffer(digest: string): Promise<Buffer> {
    return fsp.readFile(this.pathOf(digest));
  }
}

/** A blob of the cache was found damaged and was removed; the next build replaces it. */
export function corruptBlobError(digest: string, cause?: unknown): BuildError {
  return new BuildError(
    'CACHE_BLOB_CORRUPT',
    `the cached blob ${digest} was corrupt (its size or content no longer matches its digest) ` +
      'and was removed from the cache; the next build rebuilds or fetches it again',
    { hint: 'build again', ...(cause === undefined ? {} : { cause }) },
  );
}

function hexOf(digest: string): string {
  const match = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!match?.[1]) throw new BuildError('DIGEST_INVALID', `not a sha256 digest: ${digest}`);
  return match[1];
}
