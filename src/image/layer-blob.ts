/**
 * Writes a layer blob from tar entries in one pass: the tar bytes are hashed for the diff ID,
 * compressed, hashed again for the blob digest, and written to a temp file renamed into place.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { blobPath, blobTempPath, HashingStream } from './blob-writer.js';
import { type CompressOptions, createCompressor } from './compress.js';
import { layerMediaType } from './media-types.js';
import type { LayerEntry } from './tar/entry.js';
import { encodeTar } from './tar/tar-writer.js';

export interface LayerBlobOptions extends CompressOptions {
  /** Media type family of the result; default 'oci'. */
  family?: 'oci' | 'docker';
}

export interface LayerBlob {
  mediaType: string;
  /** Digest of the stored (compressed) blob. */
  digest: string;
  size: number;
  /** Digest of the uncompressed tar: what rootfs.diff_ids lists. */
  diffId: string;
  uncompressedSize: number;
}

/** Encodes entries as a layer tar and stores it as `<blobsDir>/sha256/<hex>`. */
export async function writeLayerBlob(
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  blobsDir: string,
  options: LayerBlobOptions,
): Promise<LayerBlob> {
  return writeLayerBlobFromTar(Readable.from(encodeTar(entries)), blobsDir, options);
}

/** Stores an already encoded (uncompressed) layer tar stream as a compressed layer blob. */
export async function writeLayerBlobFromTar(
  tar: AsyncIterable<Buffer>,
  blobsDir: string,
  options: LayerBlobOptions,
): Promise<LayerBlob> {
  const temp = await blobTempPath(blobsDir);
  const uncompressed = new HashingStream();
  const compressed = new HashingStream();
  try {
    await pipeline(
      Readable.from(tar),
      uncompressed,
      createCompressor(options),
      compressed,
      createWriteStream(temp, { mode: 0o644 }),
    );
    const digest = compressed.digest();
    await rename(temp, blobPath(blobsDir, digest));
    return {
      mediaType: layerMediaType(options.compression, options.family ?? 'oci'),
      digest,
      size: compressed.size,
      diffId: uncompressed.digest(),
      uncompressedSize: uncompressed.size,
    };
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
