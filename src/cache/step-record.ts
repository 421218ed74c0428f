/**
 * What the cache remembers about one finished step, keyed by the step's cache key. The layer is
 * named by its diff ID (uncompressed digest), because compressed bytes differ between gzip
 * implementations; the blob digest says which compressed form this cache holds.
 */
export interface StepRecord {
  key: string;
  /** The cache key of the step (or base) below; lets an export follow the image's own chain. */
  parent?: string;
  /** Absent for steps that produced no layer. */
  layer?: {
    diffId: string;
    digest: string;
    size: number;
    mediaType: string;
    /** The local snapshot dir; empty for a record imported from a cache export. */
    snapshotId: string;
    /** For an imported record: the `host/repository` its blob can be fetched or mounted from. */
    sourceRepository?: string;
  };
  /** When the step ran first; rebuilds reuse it so a cached build keeps the same image digest. */
  created: string;
}
