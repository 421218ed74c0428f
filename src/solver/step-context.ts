import type { BlobStore } from '../cache/blob-store.js';
import type { EventBus } from '../events/event-bus.js';
import type { Compression } from '../image/media-types.js';
import type { XattrPrefix } from '../worker/snapshot/entry-from-stat.js';
import type { SnapshotStore } from '../worker/snapshot/snapshot-store.js';

/** What every step executor gets: where to put its layer and how to report progress. */
export interface StepContext {
  bus: EventBus;
  vertexId: string;
  /** The step's cache key; its snapshot is named after it. */
  key: string;
  snapshots: SnapshotStore;
  blobs: BlobStore;
  xattrPrefix: XattrPrefix;
  /** Scratch space inside the cache directory (nothing is written outside it). */
  scratchDir: string;
  compression: Compression;
  pigzThreads: number;
  /** SOURCE_DATE_EPOCH in seconds when rewrite-timestamp is on: new entries' mtimes clamp to it. */
  layerEpoch?: number;
  signal: AbortSignal;
}
