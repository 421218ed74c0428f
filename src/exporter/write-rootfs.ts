import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { BuildError } from '../errors.js';
import { decompress } from '../image/compress.js';
import { extractLayer } from '../image/tar/extract-layer.js';
import { writeTar } from '../image/tar/tar-writer.js';
import type { LayerInfo } from '../solver/stage-result.js';
import { diffUpperDir } from '../worker/snapshot/diff-upper-dir.js';
import type { ExportContext } from './export-context.js';
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
 * buildx does). It is written beside DIR first and moved in once every output succeeded.
 */
export async function writeLocal(
  layers: LayerInfo[],
  dest: string,
  ctx: ExportContext,
): Promise<void> {
  const existing = await fsp.lstat(dest).catch(() => undefined);
  if (existing && !existing.isDirectory()) {
    throw new BuildError('OUTPUT_UNWRITABLE', `cannot write the output ${dest}: not a directory`);
  }
  const parent = path.dirname(dest);
  await fsp.mkdir(parent, { recursive: true }).catch((err: unknown) => {
    throw outputError(dest, err);
  });
  const tmp = await fsp
    .mkdtemp(path.join(parent, `.${path.basename(dest)}.kiln-`))
    .catch((err: unknown) => {
      throw outputError(dest, err);
    });
  try {
    await applyLayers(layers, tmp, ctx, ctx.canChown);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  ctx.staging.stage(
    () => moveInto(tmp, dest, existing !== undefined),
    () => fsp.rm(tmp, { recursive: true, force: true }),
  );
}

/** Moves a finished tree into place: a rename, or entry by entry into an existing directory. */
async function moveInto(tmp: string, dest: string, merge: boolean): Promise<void> {
  if (!merge) {
    await fsp.chmod(tmp, 0o755);
    await fsp.rename(tmp, dest);
    return;
  }
  for (const name of await fsp.readdir(tmp)) {
    const from = path.join(tmp, name);
    const to = path.join(dest, name);
    const there = await fsp.lstat(to).catch(() => undefined);
    const here = await fsp.lstat(from);
    if (there?.isDirectory() && here.isDirectory()) await moveInto(from, to, true);
    else {
      if (there) await fsp.rm(to, { recursive: true, force: true });
      await fsp.rename(from, to);
    }
  }
  await fsp.rm(tmp, { recursive: true, force: true });
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
    // The tree is only read back into a tar, inside kiln's user namespace: it keeps the image's
    // owners even for a rootless user, for whom a type=local output cannot.
    await applyLayers(layers, dir, ctx, process.getuid?.() === 0);
    const entries = await diffUpperDir(dir, { ignore: [], xattrPrefix: 'user' });
    await writeToDestination(dest, ctx, (out) => writeTar(entries, out));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
