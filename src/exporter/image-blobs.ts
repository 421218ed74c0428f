import type { ImageBlobs } from '../image/image-archive.js';
import type { AssembledImage } from './assemble-image.js';
import type { ExportContext } from './export-context.js';

/** The assembled image with every layer blob present in the blob store. */
export async function imageBlobs(image: AssembledImage, ctx: ExportContext): Promise<ImageBlobs> {
  await Promise.all(image.layers.map((l) => ctx.fetchLayer(l)));
  return {
    manifest: { descriptor: image.manifestDescriptor, data: image.manifestBytes },
    config: { descriptor: image.configDescriptor, data: image.configBytes },
    layers: image.layers.map((l, i) => ({
      descriptor: image.manifest.layers[i]!,
      path: ctx.blobs.pathOf(l.descriptor.digest),
      diffId: l.diffId,
    })),
  };
}
