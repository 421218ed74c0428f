import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { corruptBlobError } from '../cache/blob-store.js';
import { RegistryError } from '../errors.js';
import { parseReference, repositoryName } from '../registry/index.js';
import type { LayerInfo } from '../solver/stage-result.js';
import type { AssembledImage } from './assemble-image.js';
import type { ExportContext } from './export-context.js';

/**
 * Pushes the image under each name: layers first (in parallel; a layer that came from the same
 * registry is mounted across repositories instead of uploaded), then the config, then the
 * manifest by tag. The manifest goes last so a failed push never leaves a tag pointing at
 * missing blobs.
 */
export async function pushImage(
  image: AssembledImage,
  names: string[],
  ctx: ExportContext,
): Promise<void> {
  for (const name of names) {
    const ref = parseReference(name);
    const repo = repositoryName(ref);
    const id = `push-${name}`;
    const step = `pushing ${name}`;
    const started = Date.now();
    ctx.bus.emit({ type: 'step', id, name: step, status: 'started' });
    try {
      await Promise.all(image.layers.map((layer) => pushLayer(layer, ref.registry, repo, ctx)));
      await ctx.client.pushBlob(
        repo,
        image.configDescriptor,
        () => Readable.from([image.configBytes]),
        {
          signal: ctx.signal,
        },
      );
      await ctx.client.putManifest(ref, image.manifestBytes, image.manifestDescriptor.mediaType);
      ctx.bus.emit({
        type: 'step',
        id,
        name: step,
        status: 'done',
        duration_ms: Date.now() - started,
      });
    } catch (err) {
      ctx.bus.emit({
        type: 'step',
        id,
        name: step,
        status: 'error',
        duration_ms: Date.now() - started,
      });
      throw err;
    }
  }
}

/**
 * Pushes one layer. A stored blob of the wrong size is never sent; one the registry refuses for
 * its digest is read again here, and when it is the cache that is damaged the blob is removed:
 * a pulled layer is fetched again and pushed, a built one fails with an error naming the cache.
 */
async function pushLayer(layer: LayerInfo, registry: string, repo: string, ctx: ExportContext) {
  const { digest, size } = layer.descriptor;
  const stored = await ctx.blobs.checkStored(digest, size);
  if (stored === 'removed' && !layer.sourceRepository) throw corruptBlobError(digest);
  try {
    await pushFrom(layer, stored === 'present', registry, repo, ctx);
  } catch (err) {
    const refused = err instanceof RegistryError && err.code === 'REGISTRY_DIGEST_MISMATCH';
    if (stored !== 'present' || !refused || (await ctx.blobs.verify(digest))) throw err;
    await ctx.blobs.remove(digest);
    if (!layer.sourceRepository) throw corruptBlobError(digest, err);
    await pushFrom(layer, false, registry, repo, ctx);
  }
}

async function pushFrom(
  layer: LayerInfo,
  local: boolean,
  registry: string,
  repo: string,
  ctx: ExportContext,
): Promise<void> {
  const source = layer.sourceRepository;
  const mountFrom =
    source?.startsWith(`${registry}/`) === true ? source.slice(registry.length + 1) : undefined;
  // A blob we never downloaded is streamed from its source only if the mount is refused.
  const open = async (): Promise<Readable> => {
    if (!local) await ctx.fetchLayer(layer);
    return fs.createReadStream(ctx.blobs.pathOf(layer.descriptor.digest));
  };
  await ctx.client.pushBlob(repo, layer.descriptor, open, {
    ...(mountFrom ? { mountFrom } : {}),
    signal: ctx.signal,
  });
}
