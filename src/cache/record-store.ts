import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';
import type { BlobStore } from './blob-store.js';
import { StepLocks } from './step-lock.js';
import type { StepRecord } from './step-record.js';

/**
 * Step records in `<cacheDir>/records/<k[0..2]>/<key>.json`. Each record is written to a temp file
 * and renamed, so concurrent kiln processes and killed builds only ever see whole records; a record
 * that fails to parse, or whose layer blob is gone from the blob store, is treated as a miss.
 *
 * Records imported from a cache export (`--cache-from`) are held in memory beside the local ones
 * and consulted after them; they are never written to disk, because their blobs live elsewhere.
 * Every record this process hit or wrote is remembered, for `--cache-to`.
 */
export class RecordStore {
  private readonly root: string;
  private readonly imported = new Map<string, StepRecord>();
  private readonly used = new Map<string, StepRecord>();
  private readonly locks: StepLocks;

  constructor(
    cacheDir: string,
    private readonly blobs?: BlobStore,
  ) {
    this.root = path.join(cacheDir, 'records');
    this.locks = new StepLocks(cacheDir);
  }

  private pathOf(key: string): string {
    const hex = key.replace(/^sha256:/, '');
    return path.join(this.root, hex.slice(0, 2), `${hex}.json`);
  }

  async get(key: string): Promise<StepRecord | undefined> {
    const record = (await this.getLocal(key)) ?? this.imported.get(key);
    if (record) this.used.set(key, record);
    return record;
  }

  async put(record: StepRecord): Promise<void> {
    await writeFileAtomic(this.pathOf(record.key), JSON.stringify(record));
    this.used.set(record.key, record);
  }

  /** Adds records from a cache export; a key already imported keeps its first record. */
  addImported(records: StepRecord[]): void {
    for (const r of records) if (!this.imported.has(r.key)) this.imported.set(r.key, r);
  }

  /** The records this process hit or wrote, in the order it first met them. */
  usedRecords(): StepRecord[] {
    return [...this.used.values()];
  }

  /**
   * Runs `fn` holding the cross-process lock of `key`, so another kiln process on the same cache
   * dir that needs the same step waits and then finds this one's record instead of running it too.
   */
  exclusive<T>(key: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    return this.locks.withLock(key, signal, fn);
  }

  private async getLocal(key: string): Promise<StepRecord | undefined> {
    const record = (await readJsonFile(this.pathOf(key))) as StepRecord | undefined;
    if (record?.key !== key) return undefined;
    // A pruned (or never finished) blob makes the record useless: the step runs again.
    if (record.layer && this.blobs && !(await this.blobs.has(record.layer.digest)))
      return undefined;
    return record;
  }
}
