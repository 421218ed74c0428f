import { writeOciArchive } from '../image/image-archive.js';
import { OciLayout } from '../image/oci-layout.js';
import type { AssembledImage } from './assemble-image.js';
import type { ExportContext } from './export-context.js';
import { imageBlobs } from './image-blobs.js';
import { writeToDestination } from './write-destination.js';

/**
 * `type=oci`: the image added to an OCI layout directory (replacing entries of the same names), or
 * written as a layout tar. Layout ref names are the tags of the names (`latest` without `-t`).
 */
export async function writeOci(
  image: AssembledImage,
  spec: { dest: string; tar: boolean; names: string[] },
  ctx: ExportContext,
): Promise<void> {
  const refNames = layoutRefNames(spec.names);
  const blobs = await imageBlobs(image, ctx);
  if (!spec.tar) {
    const layout = await OciLayout.open(spec.dest);
    for (const layer of blobs.layers) await layout.putBlobFile(layer.path, layer.descriptor.digest);
    await layout.putBlob(blobs.config.data);
    await layout.putBlob(blobs.manifest.data);
    await layout.addManifest(image.manifestDescriptor, refNames);
    return;
  }
  await writeToDestination(spec.dest, ctx, (out) => writeOciArchive(blobs, refNames, out));
}

/** `registry/app:v1` names `v1` in a layout; a name without a tag is `latest`. */
export function layoutRefNames(names: string[]): string[] {
  if (names.length === 0) return ['latest'];
  const tags = names.map((name) => {
    const lastSlash = name.lastIndexOf('/');
    const colon = name.indexOf(':', lastSlash + 1);
    const at = name.indexOf('@');
    const end = at < 0 ? name.length : at;
    return colon < 0 ? 'latest' : name.slice(colon + 1, end);
  });
  return [...new Set(tags)];
}
