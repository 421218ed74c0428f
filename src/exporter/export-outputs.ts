import * as fsp from 'node:fs/promises';
import { familiarName, formatReference, parseReference } from '../registry/index.js';
import type { BuildRequest, OutputCompression, OutputSpec } from '../solver/build-request.js';
import type { BuildOutcome } from '../solver/run-build.js';
import type { LayerInfo, StageResult } from '../solver/stage-result.js';
import { type AssembledImage, assembleImage } from './assemble-image.js';
import { convertLayers } from './convert-layers.js';
import type { ExportContext } from './export-context.js';
import type { OutputStaging } from './output-staging.js';
import { pushImage } from './push-image.js';
import { writeDocker } from './write-docker.js';
import { writeOci } from './write-oci.js';
import { writeLocal, writeRootfsTar } from './write-rootfs.js';

/** Source of the export context; the build services implement it. */
export interface ExportServices {
  exportContext(signal: AbortSignal): Omit<ExportContext, 'staging'>;
}

/**
 * Stages every requested file output of the solved target and pushes its images, and reports the
 * image's digests: those of the first output that writes an image, whose compression decides the
 * manifest digest. The caller puts the staged outputs in place (or discards them) with `staging`.
 */
export async function exportOutputs(
  result: StageResult,
  request: BuildRequest,
  services: ExportServices,
  staging: OutputStaging,
  signal: AbortSignal,
): Promise<BuildOutcome> {
  const ctx: ExportContext = { ...services.exportContext(signal), staging };
  await fsp.mkdir(ctx.scratchDir, { recursive: true });
  const images = new Map<string, Promise<AssembledImage>>();
  const imageFor = (compression: OutputCompression | undefined): Promise<AssembledImage> => {
    const key = JSON.stringify(compression ?? null);
    let image = images.get(key);
    if (!image) {
      image = compressLayers(result, compression, ctx).then((layers) =>
        assembleImage({ ...result, layers }, request.labels),
      );
      images.set(key, image);
    }
    return image;
  };
  let reported: AssembledImage | undefined;
  const names = normalizedNames(request.tags);

  for (const output of exportOrder(request.outputs)) {
    // An interrupted build writes nothing: the caller discards what is staged.
    signal.throwIfAborted();
    const image = await imageFor(compressionOf(output));
    if (output.type !== 'local' && output.type !== 'tar') reported ??= image;
    await exportOne(output, image, result, request, ctx);
  }

  const image = reported ?? (await imageFor(undefined));
  return {
    manifestDigest: image.manifestDescriptor.digest,
    configDigest: image.configDescriptor.digest,
    descriptor: image.manifestDescriptor,
    names,
  };
}

/**
 * Image names in Docker's normalized form, each once: `-t app -t docker.io/library/app` name one
 * image once, as in Docker's RepoTags.
 */
function normalizedNames(names: string[]): string[] {
  return [...new Set(names.map((n) => formatReference(parseReference(n))))];
}

async function exportOne(
  output: OutputSpec,
  image: AssembledImage,
  result: StageResult,
  request: BuildRequest,
  ctx: ExportContext,
): Promise<void> {
  if (output.type === 'image' && output.push) {
    await pushImage(image, normalizedNames(output.names), ctx);
    return;
  }
  const id = `export-${output.type}-${'dest' in output ? output.dest : output.names.join(',')}`;
  const name = `exporting to ${output.type}${'dest' in output ? ` ${output.dest}` : ''}`;
  const started = Date.now();
  ctx.bus.emit({ type: 'step', id, name, status: 'started' });
  switch (output.type) {
    case 'oci':
      await writeOci(image, output, ctx);
      break;
    case 'docker': {
      // docker save writes the short names (`app:1`, `user/app:1`), which docker load expects.
      const tags = normalizedNames(output.names.length > 0 ? output.names : request.tags).map((n) =>
        familiarName(parseReference(n)),
      );
      const compressed = (output.compression?.compression ?? 'none') !== 'none';
      await writeDocker(image, tags, { dest: output.dest, compressed }, ctx);
      break;
    }
    case 'local':
      await writeLocal(result.layers, output.dest, ctx);
      break;
    case 'tar':
      await writeRootfsTar(result.layers, output.dest, ctx);
      break;
    case 'image':
      // Without push the image stays in kiln's cache; there is no daemon to load it into.
      ctx.bus.emit({
        type: 'warning',
        message: `image ${output.names.join(', ')} was not pushed (push=false)`,
      });
      break;
  }
  ctx.bus.emit({ type: 'step', id, name, status: 'done', duration_ms: Date.now() - started });
}

/**
 * Files and directories first (they are only staged and can be thrown away), then pushes, which
 * cannot be taken back, so a file output that fails never follows a push that happened. What goes
 * to stdout is only registered here; it is written once everything else is in place.
 */
function exportOrder(outputs: OutputSpec[]): OutputSpec[] {
  const rank = (o: OutputSpec): number =>
    o.type === 'image' ? 1 : 'dest' in o && o.dest === '-' ? 2 : 0;
  return [...outputs].sort((a, b) => rank(a) - rank(b));
}

function compressionOf(output: OutputSpec): OutputCompression | undefined {
  return 'compression' in output ? output.compression : undefined;
}

/** The layers in an output's compression, as a step of its own when some need converting. */
async function compressLayers(
  result: StageResult,
  compression: OutputCompression | undefined,
  ctx: ExportContext,
): Promise<LayerInfo[]> {
  if (compression === undefined) return result.layers;
  const label = compression.compression === 'none' ? 'uncompressed' : compression.compression;
  const id = `compress-${label}-${compression.level ?? 'default'}${compression.force ? '-force' : ''}`;
  const name = `compressing layers (${label})`;
  const started = Date.now();
  ctx.bus.emit({ type: 'step', id, name, status: 'started' });
  try {
    const layers = await convertLayers(result.layers, compression, ctx);
    ctx.bus.emit({ type: 'step', id, name, status: 'done', duration_ms: Date.now() - started });
    return layers;
  } catch (err) {
    ctx.bus.emit({ type: 'step', id, name, status: 'error', duration_ms: Date.now() - started });
    throw err;
  }
}
