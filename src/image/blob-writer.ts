/**
 * Content-addressed blobs in a `blobs/` directory (`<blobs>/sha256/<hex>`), written into a temp
 * file beside their final name and renamed into place, so a reader never sees half a blob.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestHex } from './digest.js';

/** A pass-through stream that hashes and counts the bytes going through it. */
export class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  /** The digest; only valid after the stream has finished. */
  digest(): string {
    return 'sha256:' + this.hash.digest('hex');
  }
}

export function blobPath(blobsDir: string, digest: string): string {
  return join(blobsDir, 'sha256', digestHex(digest));
}

/** A temp path inside `<blobs>/sha256`, on the same filesystem as the final blob. */
export async function blobTempPath(blobsDir: string): Promise<string> {
  const dir = join(blobsDir, 'sha256');
  await mkdir(dir, { recursive: true });
  return join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Stores bytes as a blob and returns its digest and size. */
export async function writeBlob(
  blobsDir: string,
  data: Buffer | AsyncIterable<Buffer>,
): Promise<{ digest: string; size: number }> {
  const temp = await blobTempPath(blobsDir);
  const hashing = new HashingStream();
  try {
    const source = Buffer.isBuffer(data) ? Readable.from([data]) : Readable.from(data);
    await pipeline(source, hashing, createWriteStream(temp, { mode: 0o644 }));
    const digest = hashing.digest();
    await rename(temp, blobPath(blobsDir, digest));
    return { digest, size: hashing.size };
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
