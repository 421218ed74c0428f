import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readJsonFile, writeFileAtomic } from '../cache/atomic-file.js';
import { BuildError } from '../errors.js';
import { HashingStream } from '../image/blob-writer.js';
import { createCompressor, decompress } from '../image/compress.js';
import { digestHex } from '../image/digest.js';
import { layerCompression, layerMediaType } from '../image/media-types.js';
import type { OutputCompression } from '../solver/build-request.js';
import type { LayerInfo } from '../solver/stage-result.js';
import type { ExportContext } from './export-context.js';

/** What a conversion record remembers: the blob a diff ID became in one compression. */
interface ConvertedBlob {
  digest: string;
  size: number;
}

/**
 * The layers with the compression an output asks for. A layer whose blob already has it is
 * used as it is (keeping its source repository, so a push can mount it) unless `force`; the
 * others are recompressed from their uncompressed stream into new blobs of the cache's blob
 * store. A record per diff ID, compression and level lets a rebuild reuse those blobs.
 */
export async function convertLayers(
  layers: LayerInfo[],
  wanted: OutputCompression | undefined,
  ctx: ExportContext,
): Promise<LayerInfo[]> {
  if (wanted === undefined) return layers;
  const converted: LayerInfo[] = [];
  // One at a time: each conversion already keeps the cores busy (pigz/zstd threads).
  for (const layer of layers) converted.push(await convertLayer(layer, wanted, ctx));
  return converted;
}

async function convertLayer(
  layer: LayerInfo,
  wanted: OutputCompression,
  ctx: ExportContext,
): Promise<LayerInfo> {
  const current = layerCompression(layer.descriptor.mediaType);
  if (current === wanted.compression && !wanted.force) return layer;

  const record = recordPath(ctx, layer.diffId, wanted);
  let blob = (await readJsonFile(record)) as ConvertedBlob | undefined;
  if (blob === undefined || !(await ctx.blobs.has(blob.digest))) {
    blob = await recompress(layer, wanted, ctx);
    await writeFileAtomic(record, JSON.stringify(blob));
  }
  const { sourceRepository: _dropped, ...local } = layer;
  return {
    ...local,
    descriptor: {
      mediaType: layerMediaType(wanted.compression, 'oci'),
      digest: blob.digest,
      size: blob.size,
    },
  };
}

/**
 * Streams the stored blob through its decompressor and the wanted compressor into a temp file
 * of the blob store; the uncompressed bytes are hashed on the way, so a blob that does not
 * match its diff ID is refused instead of exported under it.
 */
async function recompress(
  layer: LayerInfo,
  wanted: OutputCompression,
  ctx: ExportContext,
): Promise<ConvertedBlob> {
  await ctx.fetchLayer(layer);
  const source = fs.createReadStream(ctx.blobs.pathOf(layer.descriptor.digest), {
    highWaterMark: 1024 * 1024,
  });
  const uncompressed = new HashingStream();
  const compressed = new HashingStream();
  const temp = ctx.blobs.tempPath();
  try {
    await pipeline(
      Readable.from(decompress(source)),
      uncompressed,
      createCompressor({
        compression: wanted.compression,
        ...(wanted.level === undefined ? {} : { level: wanted.level }),
        pigzThreads: Math.min(4, os.availableParallelism()),
      }),
      compressed,
      fs.createWriteStream(temp, { mode: 0o644 }),
      { signal: ctx.signal },
    );
    const diffId = uncompressed.digest();
    if (diffId !== layer.diffId) {
      throw new BuildError(
        'LAYER_DIFF_ID_MISMATCH',
        `layer ${layer.descriptor.digest} uncompresses to ${diffId}, not its diff ID ${layer.diffId}`,
      );
    }
    const digest = compressed.digest();
    await ctx.blobs.adopt(temp, digest);
    return { digest, size: compressed.size };
  } catch (err) {
    await fsp.rm(temp, { force: true });
    throw err;
  }
}

/** `<cacheDir>/conversions/<diff ID hex>.<compression>-<level>.json`, beside the blob store. */
function recordPath(ctx: ExportContext, diffId: string, wanted: OutputCompression): string {
  const cacheDir = path.resolve(ctx.blobs.root, '..', '..');
  const level = wanted.compression === 'none' ? '' : `-${wanted.level ?? 'default'}`;
  return path.join(
    cacheDir,
    'conversions',
    `${digestHex(diffId)}.${wanted.compression}${level}.json`,
  );
}
