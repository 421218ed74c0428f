import type { Descriptor, History, ImageConfig } from '../image/oci-types.js';

/** One layer of a stage's filesystem, as the solver tracks it. */
export interface LayerInfo {
  /** Digest of the uncompressed tar: the identity the cache and rootfs.diff_ids use. */
  diffId: string;
  /** The compressed blob as it is stored (cache blob store) or can be fetched (registry). */
  descriptor: Descriptor;
  /** The repository (`host/path`) that holds the blob when it came from a registry. */
  sourceRepository?: string;
  /** The snapshot directory id when this layer was made (or already extracted) locally. */
  snapshotId?: string;
}

/** What a solved stage is: its layers, its config, its history and the cache key of its top. */
export interface StageResult {
  layers: LayerInfo[];
  config: ImageConfig;
  history: History[];
  /** The cache key of the stage's last step (or its base): a child step's key builds on it. */
  key: string;
}
