/**
 * ADD of a local archive: a regular file is an archive when, once decompressed (gzip, bzip2, xz
 * or zstd, told apart by their magic bytes, never by the file name), its first tar header reads.
 * Anything else is copied as it is, as Docker does. The archive is extracted into a scratch
 * directory with the tar codec's safety checks (no entry lands outside it, symlinks resolve
 * inside it); the caller copies that tree into the layer.
 */

import { createReadStream } from 'node:fs';
import { mkdtemp, open } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BuildError } from '../../errors.js';
import { decompress, findProgram, spawnFilter } from '../../image/compress.js';
import { WHITEOUT_PREFIX } from '../../image/tar/entry.js';
import { extractLayer } from '../../image/tar/extract-layer.js';
import { readTar } from '../../image/tar/tar-reader.js';

export type ArchiveCompression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** The compression the first bytes of a file show. */
export function sniffArchive(head: Buffer): ArchiveCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  const xz = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  if (head.length >= 6 && head.subarray(0, 6).equals(xz)) return 'xz';
  return 'none';
}

async function readHead(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The tar bytes of a file: decompressed by what its magic bytes say. */
async function tarStream(file: string): Promise<AsyncIterable<Buffer>> {
  const compression = sniffArchive(await readHead(file));
  if (compression !== 'bzip2' && compression !== 'xz') {
    // gzip and zstd are told apart and decompressed by the layer codec's own reader.
    return decompress(createReadStream(file));
  }
  const program = findProgram(compression);
  if (program === undefined) {
    throw new BuildError(
      'ADD_DECOMPRESSOR_MISSING',
      `ADD needs '${compression}' on PATH to read ${path.basename(file)}`,
      { hint: `install ${compression} (Debian: apt-get install ${compression})` },
    );
  }
  const filter = spawnFilter(program, ['-d', '-c', '-q']);
  const input = createReadStream(file);
  input.on('error', (err) => filter.destroy(err));
  input.pipe(filter);
  return Readable.from(filter);
}

function isWhiteout(entryPath: string): boolean {
  return (entryPath.split('/').at(-1) ?? '').startsWith(WHITEOUT_PREFIX);
}

/**
 * Whether `file` is an archive ADD extracts. The whole archive is read: a damaged entry after a
 * good first header fails the build (Docker fails too, while extracting), and so does a member
 * named like a whiteout. Docker writes such a member as a plain file, but in a layer the name
 * means "delete this path" to every runtime, so the image would silently lose files instead.
 */
export async function isArchive(file: string): Promise<boolean> {
  let entries = 0;
  try {
    for await (const { entry } of readTar(await tarStream(file))) {
      if (isWhiteout(entry.path)) {
        throw new BuildError(
          'ADD_ARCHIVE_WHITEOUT',
          `ADD: archive ${path.basename(file)} has a member named like a whiteout: ${entry.path}`,
          { hint: 'a ".wh." name in a layer deletes files; rename the member' },
        );
      }
      entries++;
    }
  } catch (err) {
    if (err instanceof BuildError && err.code === 'ADD_ARCHIVE_WHITEOUT') throw err;
    if (entries === 0) return false;
    throw new BuildError(
      'ADD_ARCHIVE_DAMAGED',
      `ADD: archive ${path.basename(file)} is damaged: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return entries > 0;
}

export interface UnpackOptions {
  /** Where to make the extraction directory (kiln's scratch space). */
  scratchDir: string;
  onWarning?: (message: string) => void;
}

/**
 * Extracts `file` into a new directory under the scratch dir when it is an archive, and returns
 * that directory; undefined when the file is to be copied as it is. Owners come from the archive
 * (where this process may set them); the caller applies --chown.
 */
export async function unpackArchive(
  file: string,
  options: UnpackOptions,
): Promise<string | undefined> {
  if (!(await isArchive(file))) return undefined;

  const dir = await mkdtemp(path.join(options.scratchDir, 'unpack-'));
  const result = await extractLayer(await tarStream(file), dir, {
    whiteouts: 'apply',
    names: 'untar',
  });
  for (const warning of result.warnings)
    options.onWarning?.(`ADD ${path.basename(file)}: ${warning}`);
  return dir;
}
