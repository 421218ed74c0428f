import type { Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { SnapshotSizes } from './snapshot-sizes.js';
import type { StepRecord } from './step-record.js';

/** One file or directory tree of the cache, with what it costs on disk and when it was used. */
export interface CacheItem {
  path: string;
  /** Disk usage in bytes (allocated blocks; hard links counted once per tree). */
  bytes: number;
  /** The later of mtime and atime, in ms since the epoch. */
  lastUsed: number;
}

export interface RecordItem extends CacheItem {
  record: StepRecord;
}

/** A conversion record: the blob a layer became in another compression, for an output. */
export interface ConversionItem extends CacheItem {
  digest: string;
}

/** Everything prune knows about in a cache directory. */
export interface CacheInventory {
  records: RecordItem[];
  /** Blobs by digest (`sha256:<hex>`). */
  blobs: Map<string, CacheItem>;
  /** Finished snapshots by id: `step-<hex>` made by steps, `diff-<hex>` extracted base layers. */
  snapshots: Map<string, CacheItem>;
  /** Half-written or half-deleted files and directories. */
  temps: CacheItem[];
  /** Kept step logs. */
  logs: CacheItem[];
  /** Stat caches of build contexts (`context-stats/<hash>.stats`): which file had which digest. */
  contextStats: CacheItem[];
  /** Cache mount directories, `mounts/<id>` and `mounts/<id>@<n>`. */
  mounts: CacheItem[];
  /** Conversion records, `conversions/<diff ID hex>.<compression>.json`. */
  conversions: ConversionItem[];
  /** Process ids of builds whose scratch directory exists (`tmp/build-<pid>-<ms>`). */
  buildPids: number[];
}

const HEX64 = /^[a-f0-9]{64}$/;

function lastUsedOf(st: Stats): number {
  return Math.max(st.mtimeMs, st.atimeMs);
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fsp.lstat(p);
  } catch {
    return undefined;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch {
    return [];
  }
}

/** Disk usage of a tree; a tree that vanishes while it is walked counts what was seen. */
export async function diskUsage(root: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstatOrUndefined(p);
    if (!st) return;
    const id = `${st.dev}:${st.ino}`;
    if (st.nlink > 1 && seen.has(id)) return;
    seen.add(id);
    total += st.blocks * 512;
    if (st.isDirectory()) {
      for (const name of await readdirOrEmpty(p)) await walk(path.join(p, name));
    }
  };
  await walk(root);
  return total;
}

/**
 * Reading a record or walking a tree moves its atime, which is how prune tells when an entry was
 * last used: put the times back so a second prune sees the same ages as the first.
 */
async function restoreTimes(p: string, st: Stats): Promise<void> {
  await fsp.utimes(p, st.atime, st.mtime).catch(() => {});
}

async function itemOf(p: string, tree = false): Promise<CacheItem | undefined> {
  const st = await lstatOrUndefined(p);
  if (!st) return undefined;
  let bytes = st.blocks * 512;
  if (tree && st.isDirectory()) {
    bytes = await diskUsage(p);
    await restoreTimes(p, st);
  }
  return { path: p, bytes, lastUsed: lastUsedOf(st) };
}

async function scanRecords(cacheDir: string, inv: CacheInventory): Promise<void> {
  const root = path.join(cacheDir, 'records');
  for (const shard of await readdirOrEmpty(root)) {
    const dir = path.join(root, shard);
    for (const name of await readdirOrEmpty(dir)) {
      const file = path.join(dir, name);
      const st = await lstatOrUndefined(file);
      if (!st) continue;
      const item = { path: file, bytes: st.blocks * 512, lastUsed: lastUsedOf(st) };
      if (!name.endsWith('.json')) {
        inv.temps.push(item);
        continue;
      }
      const record = await readRecord(file);
      await restoreTimes(file, st);
      // A record that does not parse is a miss for builds; prune treats it as garbage.
      if (record) inv.records.push({ ...item, record });
      else inv.temps.push(item);
    }
  }
}

export async function readRecord(file: string): Promise<StepRecord | undefined> {
  try {
    const record = JSON.parse(await fsp.readFile(file, 'utf8')) as StepRecord;
    return typeof record.key === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

async function scanBlobs(cacheDir: string, inv: CacheInventory): Promise<void> {
  const root = path.join(cacheDir, 'blobs', 'sha256');
  for (const name of await readdirOrEmpty(root)) {
    const item = await itemOf(path.join(root, name));
    if (!item) continue;
    if (HEX64.test(name)) inv.blobs.set(`sha256:${name}`, item);
    else inv.temps.push(item);
  }
}

async function scanSnapshots(cacheDir: string, inv: CacheInventory): Promise<void> {
  const root = path.join(cacheDir, 'snapshots');
  const sizes = await SnapshotSizes.load(cacheDir);
  for (const name of await readdirOrEmpty(root)) {
    // `.tmp-*` are being written, `.rm-*` being deleted (by SnapshotStore).
    if (name.startsWith('.')) {
      const item = await itemOf(path.join(root, name), true);
      if (item) inv.temps.push(item);
      continue;
    }
    const known = sizes.get(name);
    const item = await itemOf(path.join(root, name), known === undefined);
    if (!item) continue;
    if (known === undefined) sizes.set(name, item.bytes);
    else item.bytes = known;
    inv.snapshots.set(name, item);
  }
  await sizes.save(new Set(inv.snapshots.keys()));
}

async function scanTmp(cacheDir: string, inv: CacheInventory): Promise<void> {
  const root = path.join(cacheDir, 'tmp');
  for (const name of await readdirOrEmpty(root)) {
    const item = await itemOf(path.join(root, name), true);
    if (!item) continue;
    inv.temps.push(item);
    const build = /^build-(\d+)-\d+$/.exec(name);
    if (build) inv.buildPids.push(Number(build[1]));
  }
}

async function scanLogs(cacheDir: string, inv: CacheInventory): Promise<void> {
  const root = path.join(cacheDir, 'logs');
  for (const name of await readdirOrEmpty(root)) {
    const item = await itemOf(path.join(root, name), true);
    if (item) inv.logs.push(item);
  }
}

async function scanContextStats(cacheDir: string, inv: CacheInventory): Promise<void> {
  const root = path.join(cacheDir, 'context-stats');
  for (const name of await readdirOrEmpty(root)) {
    const item = await itemOf(path.join(root, name));
    if (!item) continue;
    // `.stats` (and version 1's `.json`); anything else is a temp sibling or a clock marker.
    if (/^[a-f0-9]{64}\.(stats|json)$/.test(name)) inv.contextStats.push(item);
    else inv.temps.push(item);
  }
}

async function scanMounts(cacheDir: string, inv: CacheInventory): Promise<void> {
  const root = path.join(cacheDir, 'mounts');
  for (const name of await readdirOrEmpty(root)) {
    // `<id>.lock` exists only while a step holds the mount; the lock's owner removes it.
    if (name.endsWith('.lock') || name.includes('.lock.')) continue;
    const item = await itemOf(path.join(root, name), true);
    if (item) inv.mounts.push(item);
  }
}

async function scanConversions(cacheDir: string, inv: CacheInventory): Promise<void> {
  const root = path.join(cacheDir, 'conversions');
  for (const name of await readdirOrEmpty(root)) {
    const file = path.join(root, name);
    const st = await lstatOrUndefined(file);
    if (!st) continue;
    const item = { path: file, bytes: st.blocks * 512, lastUsed: lastUsedOf(st) };
    const digest = name.endsWith('.json') ? await readConversion(file) : undefined;
    await restoreTimes(file, st);
    if (digest) inv.conversions.push({ ...item, digest });
    else inv.temps.push(item);
  }
}

async function readConversion(file: string): Promise<string | undefined> {
  try {
    const { digest } = JSON.parse(await fsp.readFile(file, 'utf8')) as { digest?: unknown };
    return typeof digest === 'string' ? digest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lists the parts of a cache directory prune may remove: `records/<xx>/<key>.json`,
 * `blobs/sha256/<hex>`, `snapshots/<id>`, `tmp/*`, `logs/*`, context stat caches
 * (`context-stats/*`), cache mounts (`mounts/<id>`) and
 * conversion records (`conversions/*.json`).
 */
export async function scanCache(cacheDir: string): Promise<CacheInventory> {
  const inv: CacheInventory = {
    records: [],
    blobs: new Map(),
    snapshots: new Map(),
    temps: [],
    logs: [],
    contextStats: [],
    mounts: [],
    conversions: [],
    buildPids: [],
  };
  await scanRecords(cacheDir, inv);
  await scanBlobs(cacheDir, inv);
  await scanSnapshots(cacheDir, inv);
  await scanTmp(cacheDir, inv);
  await scanLogs(cacheDir, inv);
  await scanMounts(cacheDir, inv);
  await scanContextStats(cacheDir, inv);
  await scanConversions(cacheDir, inv);
  return inv;
}
