import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { decompress } from '../image/compress.js';
import { extractLayer } from '../image/tar/extract-layer.js';
import { writeTar } from '../image/tar/tar-writer.js';
import type { LayerInfo } from '../solver/stage-result.js';
import { diffUpperDir } from '../worker/snapshot/diff-upper-dir.js';
import { stageDirOutput } from './dir-output.js';
import type { ExportContext } from './export-context.js';
import { mergeDir, placePath, removeMade, tempName } from './place-path.js';
import { outputError, writeToDestination } from './write-destination.js';

/** Applies the layers in order into `dir`, honouring whiteouts: the image's final filesystem. */
async function applyLayers(
  layers: LayerInfo[],
  dir: string,
  ctx: ExportContext,
  chown: boolean,
): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  for (const layer of layers) {
    await ctx.fetchLayer(layer);
    const input = decompress(fs.createReadStream(ctx.blobs.pathOf(layer.descriptor.digest)));
    const result = await extractLayer(input, dir, { whiteouts: 'apply', chown });
    for (const w of result.warnings) ctx.bus.emit({ type: 'warning', message: w });
  }
}

/**
 * `type=local,dest=DIR`: the final filesystem written into DIR (merged into what is there, as
 * buildx does). It is written into a temp directory first (inside DIR when DIR exists, else beside
 * it) and moved in once every output succeeded.
 */
export async function writeLocal(
  layers: LayerInfo[],
  dest: string,
  ctx: ExportContext,
): Promise<void> {
  const { existed, area, tmp, made, discard } = await stageDirOutput(dest);
  try {
    await fsp.mkdir(tmp, { mode: 0o700 }).catch((err: unknown) => {
      throw outputError(dest, err);
    });
    await applyLayers(layers, tmp, ctx, ctx.canChown);
  } catch (err) {
    await discard();
    throw err;
  }
  ctx.staging.stage({
    dest,
    place: async () => {
      if (existed) return mergeDir(tmp, dest, tempName(area, dest, 'old'));
      await fsp.chmod(tmp, 0o755);
      const placed = await placePath(tmp, dest);
      return { undo: () => placed.undo().then(() => removeMade(made)), keep: placed.keep };
    },
    discard,
  });
}

/** `type=tar`: the final filesystem as one tar (stdout for `-`). */
export async function writeRootfsTar(
  layers: LayerInfo[],
  dest: string,
  ctx: ExportContext,
): Promise<void> {
  await writeToDestination(dest, ctx, async (out) => {
    await fsp.mkdir(ctx.scratchDir, { recursive: true });
    const dir = await fsp.mkdtemp(path.join(ctx.scratchDir, 'rootfs-'));
    try {
      // The tree is only read back into a tar, inside kiln's user namespace: it keeps the image's
      // owners even for a rootless user, for whom a type=local output cannot.
      await applyLayers(layers, dir, ctx, process.getuid?.() === 0);
      const entries = await diffUpperDir(dir, { ignore: [], xattrPrefix: 'user' });
      await writeTar(entries, out);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
}
