/**
 * What the cache remembers about one finished step, keyed by the step's cache key. The layer is
 * named by its diff ID (uncompressed digest), because compressed bytes differ between gzip
 * implementations; the blob digest says which compressed form this cache holds.
 */
export interface StepRecord {
  key: string;
  /** Absent for steps that produced no layer. */
  layer?: {
    diffId: string;
    digest: string;
    size: number;
    mediaType: string;
    snapshotId: string;
  };
  /** When the step ran first; rebuilds reuse it so a cached build keeps the same image digest. */
  created: string;
}
