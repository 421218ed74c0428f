/**
 * ADD of a URL: the file is fetched into kiln's scratch space as BuildKit's HTTP source makes it:
 * mode 0600, its mtime from Last-Modified (the Unix epoch when there is none), and its digest
 * computed while it streams in. Redirects are followed; TLS trusts the system certificate store.
 */

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdtemp, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError, InputError } from '../../errors.js';
import { HttpClient } from '../../net/http-client.js';
import { systemCertificates } from '../../registry/tls-config.js';
import { redactUrl } from './add-source.js';

export interface Download {
  /** The fetched file (mode 0600, mtime set). */
  file: string;
  /** `sha256:<hex>` of the content. */
  digest: string;
  /** The content's digest in the algorithm of the expected checksum, when one was given. */
  checksumDigest?: string;
  mtime: Date;
}

export interface DownloadOptions {
  /** A directory the download goes in (a fresh one is made below it). */
  scratchDir: string;
  /** `ALGO:HEX` from ADD --checksum: a mismatch fails the build. */
  checksum?: string;
  signal?: AbortSignal;
}

const ALGORITHMS = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);
const MAX_REDIRECTIONS = 10;

/** Checks an ADD --checksum value (`sha256:<64 hex>`, or sha384/sha512). */
export function parseChecksum(checksum: string): { algorithm: string; hex: string } {
  const [algorithm = '', hex = ''] = checksum.split(':', 2);
  const length = ALGORITHMS.get(algorithm);
  if (length === undefined || hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    throw new InputError(
      'ADD_CHECKSUM_INVALID',
      `invalid checksum ${JSON.stringify(checksum)}: expected sha256:<64 hex digits>`,
      { hint: 'sha384: and sha512: digests are accepted too' },
    );
  }
  return { algorithm, hex };
}

/** One pool for every download of the process; its idle connections do not hold the exit. */
const http = new HttpClient({ tls: async () => ({ ca: await systemCertificates() }) });

/** Fetches `url` into a new directory under the scratch dir. */
export async function downloadFile(url: string, options: DownloadOptions): Promise<Download> {
  const expected = options.checksum === undefined ? undefined : parseChecksum(options.checksum);
  const shown = redactUrl(url);
  const dir = await mkdtemp(path.join(options.scratchDir, 'download-'));
  const file = path.join(dir, 'content');

  try {
    const response = await http
      .request({
        url,
        headers: { 'user-agent': 'kiln' },
        maxRedirects: MAX_REDIRECTIONS,
        ...(options.signal ? { signal: options.signal } : {}),
      })
      .catch((err: Error) => {
        throw new BuildError('ADD_DOWNLOAD_FAILED', `cannot download ${shown}: ${err.message}`, {
          cause: err,
        });
      });
    if (response.status < 200 || response.status >= 300) {
      await response.body.dump();
      throw new BuildError(
        'ADD_DOWNLOAD_FAILED',
        `cannot download ${shown}: the server answered ${response.status}`,
      );
    }

    const sha256 = createHash('sha256');
    const other =
      expected && expected.algorithm !== 'sha256' ? createHash(expected.algorithm) : undefined;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sha256.update(chunk);
        other?.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(response.body, hashing, createWriteStream(file, { mode: 0o600 })).catch(
      (err: Error) => {
        throw new BuildError('ADD_DOWNLOAD_FAILED', `cannot download ${shown}: ${err.message}`, {
          cause: err,
        });
      },
    );
    const digest = `sha256:${sha256.digest('hex')}`;
    const checksumDigest = expected
      ? `${expected.algorithm}:${other ? other.digest('hex') : digest.slice(7)}`
      : undefined;
    if (expected && checksumDigest !== `${expected.algorithm}:${expected.hex}`) {
      throw new BuildError(
        'ADD_CHECKSUM_MISMATCH',
        `checksum mismatch for ${shown}: expected ${options.checksum}, got ${checksumDigest}`,
        { hint: 'the file changed on the server, or --checksum names another file' },
      );
    }

    const mtime = lastModified(response.headers['last-modified']);
    await chmod(file, 0o600);
    await utimes(file, mtime, mtime);
    return { file, digest, mtime, ...(checksumDigest ? { checksumDigest } : {}) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function lastModified(value: string | string[] | undefined): Date {
  const text = Array.isArray(value) ? value[0] : value;
  const time = text === undefined ? Number.NaN : Date.parse(text);
  return Number.isNaN(time) ? new Date(0) : new Date(time);
}
