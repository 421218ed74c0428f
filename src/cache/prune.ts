import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { tryLock } from '../worker/mounts/file-lock.js';
import { SnapshotStore } from '../worker/snapshot/snapshot-store.js';
import {
  type CacheInventory,
  type CacheItem,
  type ConversionItem,
  type RecordItem,
  readRecord,
  scanCache,
} from './prune-inventory.js';

export interface PruneOptions {
  /** Also remove extracted base layers and blobs no step record uses (pulled layers, configs). */
  all: boolean;
  /** Remove only what was not used for this long (ms); `--filter until=`. */
  untilMs?: number;
  /** Stop once the cache is no larger than this; the most recently used entries stay. */
  keepBytes?: number;
  /** Temp files younger than this may belong to a build in flight; never removed. */
  graceMs?: number;
  now?: number;
  /** Step records (by key) that stay whatever their age: the ones the calling build used. */
  keepRecords?: ReadonlySet<string>;
  /** Whether a process id is alive; builds in flight keep their recently used entries. */
  isAlive?: (pid: number) => boolean;
}

export interface PruneResult {
  removed: {
    records: number;
    snapshots: number;
    blobs: number;
    temps: number;
    logs: number;
    contextStats: number;
    mounts: number;
    conversions: number;
  };
  reclaimedBytes: number;
  /** Size of what is left of the cache (the parts prune knows). */
  remainingBytes: number;
  /** Other kiln builds seen running on this cache. */
  liveBuilds: number[];
  /** Entries kept only because a running build may be using them. */
  keptInUse: number;
}

/** Ten minutes: longer than any pause between a temp file being written and renamed. */
export const DEFAULT_GRACE_MS = 10 * 60_000;

type Entry =
  | { kind: 'record'; lastUsed: number; item: RecordItem }
  | { kind: 'snapshot'; lastUsed: number; id: string; item: CacheItem }
  | { kind: 'blob'; lastUsed: number; digest: string; item: CacheItem }
  | { kind: 'log'; lastUsed: number; item: CacheItem }
  | { kind: 'context-stats'; lastUsed: number; item: CacheItem }
  | { kind: 'mount'; lastUsed: number; item: CacheItem };

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function diffSnapshotId(diffId: string): string {
  return `diff-${diffId.replace(/^sha256:/, '')}`;
}

/**
 * Removes cache entries the way `docker buildx prune` does: step records with their snapshots
 * and layer blobs, step logs, context stat caches and cache mounts, oldest use first. A snapshot
 * or blob goes only when no remaining record (or, for blobs, no extracted base layer of the same
 * diff ID) uses it, so a record never outlives its blob. Safe beside running builds: snapshots
 * are renamed before they are deleted, blobs are moved aside and put back if a record written
 * meanwhile uses them, and temp files younger than the grace period are never touched.
 */
export async function pruneCache(cacheDir: string, options: PruneOptions): Promise<PruneResult> {
  const now = options.now ?? Date.now();
  const graceCut = now - (options.graceMs ?? DEFAULT_GRACE_MS);
  const isAlive = options.isAlive ?? defaultIsAlive;
  const inv = await scanCache(cacheDir);
  const pruner = new Pruner(cacheDir, inv);
  const liveBuilds = [...new Set(inv.buildPids)].filter((p) => p !== process.pid && isAlive(p));

  await pruner.removeGarbage(graceCut);

  let keptInUse = 0;
  const cut = options.untilMs === undefined ? Number.POSITIVE_INFINITY : now - options.untilMs;
  const candidates = pruner.entries(options.all).filter((e) => {
    if (e.lastUsed > cut) return false;
    if (e.kind === 'record' && options.keepRecords?.has(e.item.record.key)) return false;
    if (liveBuilds.length > 0 && e.lastUsed >= graceCut) {
      keptInUse++;
      return false;
    }
    return true;
  });
  candidates.sort((a, b) => a.lastUsed - b.lastUsed);
  for (const entry of candidates) {
    if (options.keepBytes !== undefined && pruner.total <= options.keepBytes) break;
    if (!(await pruner.remove(entry))) keptInUse++;
  }
  await pruner.dropDoomedBlobs();
  await pruner.dropStaleConversions();

  return {
    removed: pruner.counts,
    reclaimedBytes: pruner.reclaimed,
    remainingBytes: pruner.total,
    liveBuilds,
    keptInUse,
  };
}

class Pruner {
  total = 0;
  reclaimed = 0;
  readonly counts = {
    records: 0,
    snapshots: 0,
    blobs: 0,
    temps: 0,
    logs: 0,
    contextStats: 0,
    mounts: 0,
    conversions: 0,
  };
  private readonly snapshotRefs = new Map<string, number>();
  private readonly blobRefs = new Map<string, number>();
  private readonly removedRecords = new Set<RecordItem>();
  private readonly doomed = new Map<string, string>();
  private readonly store: SnapshotStore;

  constructor(
    private readonly cacheDir: string,
    private readonly inv: CacheInventory,
  ) {
    this.store = new SnapshotStore(cacheDir);
    const items = [
      ...inv.records,
      ...inv.blobs.values(),
      ...inv.snapshots.values(),
      ...inv.temps,
      ...inv.logs,
      ...inv.contextStats,
      ...inv.mounts,
      ...inv.conversions,
    ];
    this.total = items.reduce((sum, i) => sum + i.bytes, 0);
    for (const r of inv.records) {
      const layer = r.record.layer;
      if (!layer) continue;
      bump(this.snapshotRefs, layer.snapshotId, 1);
      bump(this.blobRefs, layer.digest, 1);
    }
  }

  /** Interrupted writes, unparsable records, records whose blob is gone, orphaned snapshots. */
  async removeGarbage(graceCut: number): Promise<void> {
    for (const temp of this.inv.temps) {
      if (temp.lastUsed >= graceCut) continue;
      await fsp.rm(temp.path, { recursive: true, force: true });
      this.freed(temp.bytes);
      this.counts.temps++;
    }
    for (const r of this.inv.records) {
      if (r.record.layer && !this.inv.blobs.has(r.record.layer.digest)) {
        await this.removeRecord(r);
      }
    }
    for (const [id, item] of this.inv.snapshots) {
      // A step snapshot is committed just before its record is written: young ones wait.
      if (!id.startsWith('step-') || this.snapshotRefs.has(id) || item.lastUsed >= graceCut) {
        continue;
      }
      await this.removeSnapshot(id);
    }
    await this.dropStaleConversions();
  }

  /** What the filters choose among; extracted base layers and loose blobs only with --all. */
  entries(all: boolean): Entry[] {
    const entries: Entry[] = [];
    for (const r of this.inv.records) {
      if (this.removedRecords.has(r)) continue;
      const layer = r.record.layer;
      // A blob may be shared by several records, so its times say nothing about this one.
      const times = [r.lastUsed];
      if (layer) times.push(this.inv.snapshots.get(layer.snapshotId)?.lastUsed ?? 0);
      entries.push({ kind: 'record', lastUsed: Math.max(...times), item: r });
    }
    for (const item of this.inv.logs) entries.push({ kind: 'log', lastUsed: item.lastUsed, item });
    for (const item of this.inv.contextStats) {
      entries.push({ kind: 'context-stats', lastUsed: item.lastUsed, item });
    }
    for (const item of this.inv.mounts) {
      entries.push({ kind: 'mount', lastUsed: item.lastUsed, item });
    }
    if (!all) return entries;
    for (const [id, item] of this.inv.snapshots) {
      if (id.startsWith('diff-'))
        entries.push({ kind: 'snapshot', lastUsed: item.lastUsed, id, item });
    }
    for (const [digest, item] of this.inv.blobs) {
      if (!this.blobRefs.has(digest)) {
        entries.push({ kind: 'blob', lastUsed: item.lastUsed, digest, item });
      }
    }
    return entries;
  }

  /** Removes one entry; false when it is in use and was kept. */
  async remove(entry: Entry): Promise<boolean> {
    switch (entry.kind) {
      case 'record':
        await this.removeRecord(entry.item);
        return true;
      case 'snapshot':
        await this.removeSnapshot(entry.id);
        for (const r of this.inv.records) {
          const layer = r.record.layer;
          if (layer && diffSnapshotId(layer.diffId) === entry.id) await this.release(layer);
        }
        return true;
      case 'blob':
        await this.doom(entry.digest);
        return true;
      case 'log':
        await fsp.rm(entry.item.path, { recursive: true, force: true });
        this.freed(entry.item.bytes);
        this.counts.logs++;
        return true;
      case 'context-stats':
        // Only a speed-up: the next build of that context reads its files again.
        await fsp.rm(entry.item.path, { force: true });
        this.freed(entry.item.bytes);
        this.counts.contextStats++;
        return true;
      case 'mount':
        return this.removeMount(entry.item);
    }
  }

  /**
   * A cache mount goes only while nobody holds its lock (a `locked` or `private` user has it
   * mounted); `shared` users hold none, and are covered by the running-build rule instead. It is
   * renamed away under the lock, so a step that starts next gets a new empty directory.
   */
  private async removeMount(item: CacheItem): Promise<boolean> {
    const lock = await tryLock(`${item.path}.lock`);
    if (!lock) return false;
    try {
      const aside = this.asidePath(`mount-${path.basename(item.path)}`);
      await fsp.mkdir(path.dirname(aside), { recursive: true });
      try {
        await fsp.rename(item.path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
        throw err;
      }
      await fsp.rm(aside, { recursive: true, force: true });
    } finally {
      await lock.release();
    }
    this.freed(item.bytes);
    this.counts.mounts++;
    return true;
  }

  /** Conversion records whose blob is gone would only send the next export to a missing file. */
  async dropStaleConversions(): Promise<void> {
    const left: ConversionItem[] = [];
    for (const conversion of this.inv.conversions) {
      if (await fileExists(this.blobPath(conversion.digest))) {
        left.push(conversion);
        continue;
      }
      await fsp.rm(conversion.path, { force: true });
      this.freed(conversion.bytes);
      this.counts.conversions++;
    }
    this.inv.conversions = left;
  }

  private blobPath(digest: string): string {
    return path.join(this.cacheDir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  }

  private asidePath(name: string): string {
    return path.join(this.cacheDir, 'tmp', `prune-${name}-${randomBytes(4).toString('hex')}`);
  }

  private async removeRecord(r: RecordItem): Promise<void> {
    if (this.removedRecords.has(r)) return;
    this.removedRecords.add(r);
    await fsp.rm(r.path, { force: true });
    this.freed(r.bytes);
    this.counts.records++;
    const layer = r.record.layer;
    if (!layer) return;
    if (bump(this.snapshotRefs, layer.snapshotId, -1) === 0)
      await this.removeSnapshot(layer.snapshotId);
    bump(this.blobRefs, layer.digest, -1);
    await this.release(layer);
  }

  /**
   * Drops a layer blob once no record uses it and no extracted base layer of the same diff ID
   * exists (that snapshot and the blob it may have come from go together).
   */
  private async release(layer: { digest: string; diffId: string }): Promise<void> {
    if (this.blobRefs.has(layer.digest)) return;
    if (this.inv.snapshots.has(diffSnapshotId(layer.diffId))) return;
    await this.doom(layer.digest);
  }

  private async removeSnapshot(id: string): Promise<void> {
    const item = this.inv.snapshots.get(id);
    if (!item) return;
    this.inv.snapshots.delete(id);
    await this.store.remove(id);
    this.freed(item.bytes);
    this.counts.snapshots++;
  }

  /** Moves a blob aside; dropDoomedBlobs deletes it unless a new record needs it. */
  private async doom(digest: string): Promise<void> {
    const item = this.inv.blobs.get(digest);
    if (!item || this.doomed.has(digest)) return;
    const aside = this.asidePath(digest.slice(7));
    await fsp.mkdir(path.dirname(aside), { recursive: true });
    try {
      await fsp.rename(item.path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    this.doomed.set(digest, aside);
    this.freed(item.bytes);
    this.counts.blobs++;
  }

  /** Records written by other builds since the scan put their blobs back. */
  async dropDoomedBlobs(): Promise<void> {
    if (this.doomed.size === 0) return;
    const wanted = await referencedBlobs(this.cacheDir);
    for (const [digest, aside] of this.doomed) {
      const item = this.inv.blobs.get(digest) as CacheItem;
      if (wanted.has(digest)) {
        // Another build wrote the same blob again meanwhile when the rename back fails.
        await fsp.rename(aside, item.path).catch(() => fsp.rm(aside, { force: true }));
        this.freed(-item.bytes);
        this.counts.blobs--;
        continue;
      }
      await fsp.rm(aside, { force: true });
    }
    this.doomed.clear();
  }

  private freed(bytes: number): void {
    this.total -= bytes;
    this.reclaimed += bytes;
  }
}

async function fileExists(p: string): Promise<boolean> {
  return fsp.access(p).then(
    () => true,
    () => false,
  );
}

function bump(map: Map<string, number>, key: string, by: number): number {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
  return Math.max(next, 0);
}

async function referencedBlobs(cacheDir: string): Promise<Set<string>> {
  const wanted = new Set<string>();
  const root = path.join(cacheDir, 'records');
  for (const shard of await fsp.readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, shard);
    for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue;
      const digest = (await readRecord(path.join(dir, name)))?.layer?.digest;
      if (digest) wanted.add(digest);
    }
  }
  return wanted;
}
