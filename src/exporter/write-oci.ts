import { writeOciArchive } from '../image/image-archive.js';
import { CREATED_ANNOTATION, type Descriptor } from '../image/oci-types.js';
import { formatEpoch } from '../solver/source-date-epoch.js';
import type { AssembledImage } from './assemble-image.js';
import type { ExportContext } from './export-context.js';
import { imageBlobs } from './image-blobs.js';
import { stageOciLayout } from './stage-oci-layout.js';
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
  const descriptor = withCreated(image.manifestDescriptor, ctx);
  const blobs = await imageBlobs(image, ctx);
  blobs.manifest.descriptor = descriptor;
  if (!spec.tar) {
    await stageOciLayout(blobs, descriptor, refNames, spec.dest, ctx);
    return;
  }
  await writeToDestination(spec.dest, ctx, (out) => writeOciArchive(blobs, refNames, out));
}

/**
 * The index entry says when the image was made, as BuildKit's OCI exporter writes it: the
 * SOURCE_DATE_EPOCH when there is one (so the layout is reproducible too), else now.
 */
function withCreated(descriptor: Descriptor, ctx: ExportContext): Descriptor {
  const created = ctx.epoch?.iso ?? formatEpoch(Math.floor(Date.now() / 1000));
  return {
    ...descriptor,
    annotations: { ...descriptor.annotations, [CREATED_ANNOTATION]: created },
  };
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
