import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InputError } from '../errors.js';
import { decompress, sniffCompression } from '../image/compress.js';
import { extractLayer } from '../image/tar/extract-layer.js';

/** What `kiln build -` found on stdin: a context tar (extracted), or a bare Dockerfile. */
export interface StdinContext {
  contextDir: string;
  /** Set when stdin held a Dockerfile instead of a tar, as `docker build - < Dockerfile` allows. */
  dockerfile?: Buffer;
  dispose(): Promise<void>;
}

/**
 * Reads stdin into the cache's scratch space and, like `docker build -`, tells a tar (plain or
 * compressed) from a Dockerfile by its first bytes. A tar is extracted without owners (context
 * files are copied as 0:0 anyway); a Dockerfile gets an empty context.
 */
export async function readStdinContext(scratchRoot: string): Promise<StdinContext> {
  const dir = path.join(scratchRoot, `stdin-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(dir, { recursive: true });
  const dispose = (): Promise<void> => fsp.rm(dir, { recursive: true, force: true });
  try {
    const raw = path.join(dir, 'stdin');
    await pipeline(process.stdin, fs.createWriteStream(raw));
    const contextDir = path.join(dir, 'context');
    await fsp.mkdir(contextDir);

    const head = Buffer.alloc(512);
    const fd = await fsp.open(raw, 'r');
    const { bytesRead } = await fd.read(head, 0, 512, 0).finally(() => fd.close());
    const compressed = sniffCompression(head.subarray(0, bytesRead)) !== 'none';
    const isTar = bytesRead === 512 && head.subarray(257, 262).toString('latin1') === 'ustar';
    if (!compressed && !isTar) {
      return { contextDir, dockerfile: await fsp.readFile(raw), dispose };
    }
    await extractLayer(decompress(fs.createReadStream(raw)), contextDir, {
      whiteouts: 'apply',
      chown: false,
    });
    await fsp.rm(raw);
    return { contextDir, dispose };
  } catch (err) {
    await dispose();
    if (err instanceof InputError) throw err;
    throw new InputError('CONTEXT_INVALID', 'stdin is neither a Dockerfile nor a readable tar', {
      cause: err,
    });
  }
}
