/**
 * Content digests: computing them for bytes and checking a stream against one as it flows. A
 * mismatch (or a short or long body when the size is known) fails the stream at its end, so a
 * consumer that reads to the end can never mistake corrupt content for the real blob.
 */
import * as crypto from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { digestMismatch } from './registry-errors.js';

function algorithmOf(digest: string): string {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  return algorithm === 'sha512' ? 'sha512' : 'sha256';
}

/** `sha256:<hex>` of `bytes`, or of the algorithm `like` names (sha256 or sha512). */
export function digestOf(bytes: Uint8Array, like = 'sha256:'): string {
  const algorithm = algorithmOf(like);
  return `${algorithm}:${crypto.createHash(algorithm).update(bytes).digest('hex')}`;
}

export class DigestVerifier extends Transform {
  private readonly hash: crypto.Hash;
  private bytes = 0;

  constructor(
    private readonly expected: string,
    private readonly reference: string,
    private readonly expectedSize?: number,
  ) {
    super();
    this.hash = crypto.createHash(algorithmOf(expected));
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = `${algorithmOf(this.expected)}:${this.hash.digest('hex')}`;
    if (actual !== this.expected) {
      callback(digestMismatch(this.reference, this.expected, actual));
      return;
    }
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      callback(digestMismatch(this.reference, `${this.expectedSize} bytes`, `${this.bytes} bytes`));
      return;
    }
    callback();
  }
}
