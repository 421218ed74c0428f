import type { EventBus } from '../events/event-bus.js';
import { writeDockerArchive } from '../image/image-archive.js';
import { formatReference, parseReference } from '../registry/index.js';
import type { BuildRequest } from '../solver/build-request.js';
import type { BuildOutcome } from '../solver/run-build.js';
import type { StageResult } from '../solver/stage-result.js';
import { assembleImage } from './assemble-image.js';
import type { ExportContext } from './export-context.js';
import { imageBlobs } from './image-blobs.js';
import { pushImage } from './push-image.js';
import { writeToDestination } from './write-destination.js';
import { writeOci } from './write-oci.js';
import { writeLocal, writeRootfsTar } from './write-rootfs.js';

/** Source of the export context; the build services implement it. */
export interface ExportServices {
  exportContext(signal: AbortSignal): ExportContext;
}

/** Writes every requested output of the solved target and reports the image's digests. */
export async function exportOutputs(
  result: StageResult,
  request: BuildRequest,
  services: ExportServices,
  bus: EventBus,
  signal: AbortSignal,
): Promise<BuildOutcome> {
  const ctx = services.exportContext(signal);
  const image = assembleImage(result, request.labels);
  const names = request.tags.map((t) => formatReference(parseReference(t)));

  for (const output of request.outputs) {
    const id = `export-${output.type}-${'dest' in output ? output.dest : output.names.join(',')}`;
    const name = `exporting to ${output.type}${'dest' in output ? ` ${output.dest}` : ''}`;
    if (output.type === 'image' && output.push) {
      await pushImage(
        image,
        output.names.map((n) => formatReference(parseReference(n))),
        ctx,
      );
      continue;
    }
    const started = Date.now();
    bus.emit({ type: 'step', id, name, status: 'started' });
    switch (output.type) {
      case 'oci':
        await writeOci(image, output, ctx);
        break;
      case 'docker': {
        const blobs = await imageBlobs(image, ctx);
        const tags = (output.names.length > 0 ? output.names : request.tags).map((n) =>
          formatReference(parseReference(n)),
        );
        await writeToDestination(output.dest, ctx, (out) =>
          writeDockerArchive(blobs, tags, out, { tempDir: ctx.scratchDir }),
        );
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
        bus.emit({
          type: 'warning',
          message: `image ${output.names.join(', ')} was not pushed (push=false)`,
        });
        break;
    }
    bus.emit({ type: 'step', id, name, status: 'done', duration_ms: Date.now() - started });
  }

  return {
    manifestDigest: image.manifestDescriptor.digest,
    configDigest: image.configDescriptor.digest,
    descriptor: image.manifestDescriptor,
    names,
  };
}
