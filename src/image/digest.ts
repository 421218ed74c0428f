/** sha256 digests in the 'sha256:<hex>' form of the OCI image-spec. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ImageError } from './errors.js';

const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** Digests everything an async iterable yields (a Readable is one). */
export async function sha256OfStream(
  input: AsyncIterable<Buffer | string>,
): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hash.update(buf);
    size += buf.length;
  }
  return { digest: 'sha256:' + hash.digest('hex'), size };
}

export async function sha256OfFile(path: string): Promise<{ digest: string; size: number }> {
  return sha256OfStream(createReadStream(path, { highWaterMark: 1024 * 1024 }));
}

export function isDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value);
}

/** The hex part of a sha256 digest; throws when the digest is not one kiln can store. */
export function digestHex(digest: string): string {
  if (!DIGEST_PATTERN.test(digest)) {
    throw new ImageError('IMAGE_INVALID_DIGEST', `invalid digest '${digest}'`, {
      hint: "expected 'sha256:' followed by 64 lowercase hex digits",
    });
  }
  return digest.slice('sha256:'.length);
}
