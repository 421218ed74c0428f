import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';

/**
 * Disk usage of committed snapshots, remembered in `<cacheDir>/sizes/snapshots.json`. A snapshot
 * never changes once committed, and walking every snapshot of a large cache at each measure (tens
 * of thousands of files per node_modules tree) would cost seconds after every build that checks
 * the cache's size limit. Entries of snapshots that are gone are dropped when the file is saved.
 */
export class SnapshotSizes {
  private changed = false;

  private constructor(
    private readonly file: string,
    private readonly sizes: Map<string, number>,
  ) {}

  static async load(cacheDir: string): Promise<SnapshotSizes> {
    const file = path.join(cacheDir, 'sizes', 'snapshots.json');
    const data = await readJsonFile(file);
    const sizes = new Map<string, number>();
    if (data !== null && typeof data === 'object') {
      for (const [id, bytes] of Object.entries(data)) {
        if (Number.isSafeInteger(bytes) && (bytes as number) >= 0) sizes.set(id, bytes as number);
      }
    }
    return new SnapshotSizes(file, sizes);
  }

  get(id: string): number | undefined {
    return this.sizes.get(id);
  }

  set(id: string, bytes: number): void {
    if (this.sizes.get(id) === bytes) return;
    this.sizes.set(id, bytes);
    this.changed = true;
  }

  /** Writes the sizes of the snapshots in `existing`; a lost race with another writer is harmless. */
  async save(existing: Set<string>): Promise<void> {
    for (const id of this.sizes.keys()) {
      if (!existing.has(id)) {
        this.sizes.delete(id);
        this.changed = true;
      }
    }
    if (!this.changed) return;
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.sizes)));
    this.changed = false;
  }
}
