import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { decompress } from '../image/compress.js';
import { extractLayer } from '../image/tar/extract-layer.js';
import { writeTar } from '../image/tar/tar-writer.js';
import type { LayerInfo } from '../solver/stage-result.js';
import { diffUpperDir } from '../worker/snapshot/diff-upper-dir.js';
import type { ExportContext } from './export-context.js';
import { writeToDestination } from './write-destination.js';

/** Applies the layers in order into `dir`, honouring whiteouts: the image's final filesystem. */
async function applyLayers(layers: LayerInfo[], dir: string, ctx: ExportContext): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  for (const layer of layers) {
    await ctx.fetchLayer(layer);
    const input = decompress(fs.createReadStream(ctx.blobs.pathOf(layer.descriptor.digest)));
    const result = await extractLayer(input, dir, { whiteouts: 'apply', chown: ctx.canChown });
    for (const w of result.warnings) ctx.bus.emit({ type: 'warning', message: w });
  }
}

/** `type=local,dest=DIR`: the final filesystem written into DIR. */
export async function writeLocal(
  layers: LayerInfo[],
  dest: string,
  ctx: ExportContext,
): Promise<void> {
  await applyLayers(layers, dest, ctx);
}

/** `type=tar`: the final filesystem as one tar (stdout for `-`). */
export async function writeRootfsTar(
  layers: LayerInfo[],
  dest: string,
  ctx: ExportContext,
): Promise<void> {
  await fsp.mkdir(ctx.scratchDir, { recursive: true });
  const dir = await fsp.mkdtemp(path.join(ctx.scratchDir, 'rootfs-'));
  try {
    await applyLayers(layers, dir, ctx);
    const entries = await diffUpperDir(dir, { ignore: [], xattrPrefix: 'user' });
    await writeToDestination(dest, ctx, (out) => writeTar(entries, out));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
