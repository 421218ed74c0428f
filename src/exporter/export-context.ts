import type { BlobStore } from '../cache/blob-store.js';
import type { EventBus } from '../events/event-bus.js';
import type { RegistryClient } from '../registry/index.js';
import type { SourceDateEpoch } from '../solver/source-date-epoch.js';
import type { LayerInfo } from '../solver/stage-result.js';
import type { OutputStaging } from './output-staging.js';

/** What the exporters need from the build: blobs, a registry client, scratch space, events. */
export interface ExportContext {
  bus: EventBus;
  blobs: BlobStore;
  client: RegistryClient;
  /** Scratch space inside the cache directory. */
  scratchDir: string;
  /** Brings a pulled layer's blob into the blob store (exports need every blob). */
  fetchLayer(layer: LayerInfo): Promise<void>;
  /** Whether files may be chowned to the ids in the layers (false for a rootless user). */
  canChown: boolean;
  /** SOURCE_DATE_EPOCH, for the `org.opencontainers.image.created` annotation of OCI outputs. */
  epoch?: SourceDateEpoch;
  signal: AbortSignal;
  /** Where exporters register the final moves of what they wrote (see OutputStaging). */
  staging: OutputStaging;
}
