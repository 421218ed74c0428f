import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { tryLock } from '../worker/mounts/file-lock.js';
import { pruneCache } from './prune.js';
import type { StepRecord } from './step-record.js';

const HOUR = 3600_000;
const NOW = Date.now();

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function age(p: string, ms: number): Promise<void> {
  const t = new Date(NOW - ms);
  await fsp.utimes(p, t, t);
}

async function exists(p: string): Promise<boolean> {
  return fsp.access(p).then(
    () => true,
    () => false,
  );
}

/** A fake cache in the layout the stores write. */
class FakeCache {
  constructor(readonly dir: string) {}

  blobPath(hex: string): string {
    return path.join(this.dir, 'blobs', 'sha256', hex);
  }

  recordPath(key: string): string {
    return path.join(this.dir, 'records', key.slice(0, 2), `${key}.json`);
  }

  snapshotPath(id: string): string {
    return path.join(this.dir, 'snapshots', id);
  }

  async blob(content: string, ageMs = 0): Promise<string> {
    const hex = sha(content);
    await fsp.mkdir(path.dirname(this.blobPath(hex)), { recursive: true });
    await fsp.writeFile(this.blobPath(hex), content);
    await age(this.blobPath(hex), ageMs);
    return hex;
  }

  async snapshot(id: string, content: string, ageMs = 0): Promise<void> {
    const fs = path.join(this.snapshotPath(id), 'fs');
    await fsp.mkdir(fs, { recursive: true });
    await fsp.writeFile(path.join(fs, 'file'), content);
    await age(path.join(fs, 'file'), ageMs);
    await age(fs, ageMs);
    await age(this.snapshotPath(id), ageMs);
  }

  /** A step record with its snapshot and blob, all last used `ageMs` ago. */
  async step(name: string, ageMs: number, blobContent = `layer ${name}`): Promise<StepKeys> {
    const key = sha(`key ${name}`);
    const blobHex = await this.blob(blobContent, ageMs);
    const snapshotId = `step-${key}`;
    await this.snapshot(snapshotId, `snapshot ${name}`.repeat(1000), ageMs);
    const record: StepRecord = {
      key: `sha256:${key}`,
      layer: {
        diffId: `sha256:${sha(`diff ${blobContent}`)}`,
        digest: `sha256:${blobHex}`,
        size: blobContent.length,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        snapshotId,
      },
      created: new Date(NOW - ageMs).toISOString(),
    };
    await fsp.mkdir(path.dirname(this.recordPath(key)), { recursive: true });
    await fsp.writeFile(this.recordPath(key), JSON.stringify(record));
    await age(this.recordPath(key), ageMs);
    return { key, blobHex, snapshotId, diffHex: record.layer?.diffId.slice(7) ?? '' };
  }

  mountPath(name: string): string {
    return path.join(this.dir, 'mounts', name);
  }

  /** A cache mount directory with one file, last used `ageMs` ago. */
  async mount(name: string, ageMs: number): Promise<void> {
    await fsp.mkdir(this.mountPath(name), { recursive: true });
    await fsp.writeFile(path.join(this.mountPath(name), 'downloaded'), 'x'.repeat(10_000));
    await age(path.join(this.mountPath(name), 'downloaded'), ageMs);
    await age(this.mountPath(name), ageMs);
  }

  conversionPath(name: string): string {
    return path.join(this.dir, 'conversions', `${name}.json`);
  }

  /** A conversion record pointing at blob `hex`. */
  async conversion(name: string, hex: string): Promise<void> {
    await fsp.mkdir(path.join(this.dir, 'conversions'), { recursive: true });
    const record = { digest: `sha256:${hex}`, size: 1 };
    await fsp.writeFile(this.conversionPath(name), JSON.stringify(record));
  }

  async stepGone(s: StepKeys): Promise<boolean> {
    return (
      !(await exists(this.recordPath(s.key))) &&
      !(await exists(this.snapshotPath(s.snapshotId))) &&
      !(await exists(this.blobPath(s.blobHex)))
    );
  }

  async stepWhole(s: StepKeys): Promise<boolean> {
    return (
      (await exists(this.recordPath(s.key))) &&
      (await exists(this.snapshotPath(s.snapshotId))) &&
      (await exists(this.blobPath(s.blobHex)))
    );
  }
}

interface StepKeys {
  key: string;
  blobHex: string;
  snapshotId: string;
  diffHex: string;
}

describe('pruneCache', () => {
  let cache: FakeCache;
  const noBuilds = { now: NOW, isAlive: () => false };

  beforeEach(async () => {
    cache = new FakeCache(await fsp.mkdtemp(path.join(tmpdir(), 'kiln-prune-')));
  });
  afterEach(async () => {
    await fsp.rm(cache.dir, { recursive: true, force: true });
  });

  it('removes step records older than until with their snapshots and blobs', async () => {
    const old = await cache.step('old', 48 * HOUR);
    const fresh = await cache.step('fresh', 1 * HOUR);
    const result = await pruneCache(cache.dir, { all: false, untilMs: 24 * HOUR, ...noBuilds });
    assert.ok(await cache.stepGone(old));
    assert.ok(await cache.stepWhole(fresh));
    assert.deepEqual(result.removed, {
      records: 1,
      snapshots: 1,
      blobs: 1,
      temps: 0,
      logs: 0,
      contextStats: 0,
      mounts: 0,
      conversions: 0,
    });
    assert.ok(result.reclaimedBytes > 0);
  });

  it('removes every step record without filters but keeps base layers and pulled blobs', async () => {
    const a = await cache.step('a', 0);
    const pulled = await cache.blob('pulled base layer');
    await cache.snapshot(`diff-${sha('base')}`, 'base files');
    await pruneCache(cache.dir, { all: false, ...noBuilds });
    assert.ok(await cache.stepGone(a));
    assert.ok(await exists(cache.blobPath(pulled)));
    assert.ok(await exists(cache.snapshotPath(`diff-${sha('base')}`)));
  });

  it('removes extracted base layers and loose blobs with all', async () => {
    const pulled = await cache.blob('pulled base layer');
    await cache.snapshot(`diff-${sha('base')}`, 'base files');
    const result = await pruneCache(cache.dir, { all: true, ...noBuilds });
    assert.equal(await exists(cache.blobPath(pulled)), false);
    assert.equal(await exists(cache.snapshotPath(`diff-${sha('base')}`)), false);
    assert.equal(result.remainingBytes, 0);
  });

  it('keeps a blob that a remaining record still uses', async () => {
    const old = await cache.step('old', 48 * HOUR, 'same layer');
    const fresh = await cache.step('fresh', 0, 'same layer');
    await pruneCache(cache.dir, { all: false, untilMs: 24 * HOUR, ...noBuilds });
    assert.equal(await exists(cache.recordPath(old.key)), false);
    assert.equal(await exists(cache.snapshotPath(old.snapshotId)), false);
    assert.ok(await cache.stepWhole(fresh), 'the shared blob stays with the fresh record');
  });

  it('keeps the blob of a removed record while a base layer of the same diff ID exists', async () => {
    const s = await cache.step('pushed-and-pulled', 48 * HOUR);
    await cache.snapshot(`diff-${s.diffHex}`, 'extracted');
    await pruneCache(cache.dir, { all: false, ...noBuilds });
    assert.equal(await exists(cache.recordPath(s.key)), false);
    assert.ok(await exists(cache.blobPath(s.blobHex)));
  });

  it('keeps the most recently used entries up to keep-storage', async () => {
    const steps = [];
    for (let i = 0; i < 4; i++) steps.push(await cache.step(`s${i}`, (4 - i) * HOUR));
    const before = await pruneCache(cache.dir, { all: false, keepBytes: 1e12, ...noBuilds });
    assert.equal(before.reclaimedBytes, 0, 'nothing goes while the cache fits');
    const perStep = before.remainingBytes / 4;
    const result = await pruneCache(cache.dir, {
      all: false,
      keepBytes: Math.ceil(perStep * 2),
      ...noBuilds,
    });
    assert.ok(result.remainingBytes <= perStep * 2);
    assert.ok(await cache.stepGone(steps[0] as StepKeys), 'the oldest went');
    assert.ok(await cache.stepGone(steps[1] as StepKeys));
    assert.ok(await cache.stepWhole(steps[2] as StepKeys), 'the newest stayed');
    assert.ok(await cache.stepWhole(steps[3] as StepKeys));
  });

  it('removes temp files only when they are older than the grace period', async () => {
    const tmp = path.join(cache.dir, 'tmp');
    await fsp.mkdir(tmp, { recursive: true });
    await fsp.writeFile(path.join(tmp, 'blob-1-young'), 'x');
    await fsp.writeFile(path.join(tmp, 'blob-1-old'), 'x');
    await age(path.join(tmp, 'blob-1-old'), HOUR);
    const result = await pruneCache(cache.dir, { all: false, ...noBuilds });
    assert.ok(await exists(path.join(tmp, 'blob-1-young')));
    assert.equal(await exists(path.join(tmp, 'blob-1-old')), false);
    assert.equal(result.removed.temps, 1);
  });

  it('removes a record whose blob is gone and orphaned step snapshots past the grace period', async () => {
    const broken = await cache.step('broken', 0);
    await fsp.rm(cache.blobPath(broken.blobHex));
    await cache.snapshot(`step-${sha('orphan')}`, 'orphan', HOUR);
    await cache.snapshot(`step-${sha('committing')}`, 'record not written yet', 0);
    await pruneCache(cache.dir, { all: false, untilMs: 1000 * HOUR, ...noBuilds });
    assert.equal(await exists(cache.recordPath(broken.key)), false);
    assert.equal(await exists(cache.snapshotPath(`step-${sha('orphan')}`)), false);
    assert.ok(await exists(cache.snapshotPath(`step-${sha('committing')}`)));
  });

  it('keeps recently used entries while another kiln build runs on the cache', async () => {
    const recent = await cache.step('recent', 60_000);
    const old = await cache.step('old', 48 * HOUR);
    await fsp.mkdir(path.join(cache.dir, 'tmp', 'build-4242-1'), { recursive: true });
    const result = await pruneCache(cache.dir, {
      all: false,
      now: NOW,
      isAlive: (pid) => pid === 4242,
    });
    assert.deepEqual(result.liveBuilds, [4242]);
    assert.equal(result.keptInUse, 1);
    assert.ok(await cache.stepWhole(recent));
    assert.ok(await cache.stepGone(old));
  });

  it('removes cache mounts as buildx prune does, the ones used longest ago first', async () => {
    await cache.mount('npm', 48 * HOUR);
    await cache.mount('apt', HOUR);
    const older = await pruneCache(cache.dir, { all: false, untilMs: 24 * HOUR, ...noBuilds });
    assert.equal(older.removed.mounts, 1);
    assert.equal(await exists(cache.mountPath('npm')), false);
    assert.ok(await exists(cache.mountPath('apt')));
    const rest = await pruneCache(cache.dir, { all: false, ...noBuilds });
    assert.equal(rest.removed.mounts, 1);
    assert.equal(await exists(cache.mountPath('apt')), false);
    assert.equal(rest.remainingBytes, 0);
  });

  it('keeps a cache mount whose lock a running step holds', async () => {
    await cache.mount('locked', 48 * HOUR);
    const held = await tryLock(`${cache.mountPath('locked')}.lock`);
    assert.ok(held);
    try {
      const result = await pruneCache(cache.dir, { all: false, ...noBuilds });
      assert.equal(result.removed.mounts, 0);
      assert.equal(result.keptInUse, 1);
      assert.ok(await exists(path.join(cache.mountPath('locked'), 'downloaded')));
    } finally {
      await held.release();
    }
  });

  it('removes conversion records whose converted blob is removed, and keeps the others', async () => {
    const loose = await cache.blob('a zstd copy of a layer');
    const used = await cache.step('used', 0, 'a gzip layer');
    await cache.conversion('loose.zstd', loose);
    await cache.conversion('used.gzip', used.blobHex);
    await cache.conversion('gone.zstd', sha('never stored'));
    const first = await pruneCache(cache.dir, { all: false, untilMs: 24 * HOUR, ...noBuilds });
    assert.equal(first.removed.conversions, 1, 'the record of a missing blob is garbage');
    assert.equal(await exists(cache.conversionPath('gone.zstd')), false);
    assert.ok(await exists(cache.conversionPath('loose.zstd')));
    assert.ok(await exists(cache.conversionPath('used.gzip')));

    const all = await pruneCache(cache.dir, { all: true, ...noBuilds });
    assert.equal(all.removed.conversions, 2);
    assert.equal(await exists(cache.conversionPath('loose.zstd')), false);
    assert.equal(await exists(cache.conversionPath('used.gzip')), false);
    assert.equal(all.remainingBytes, 0);
  });

  it('removes context stat caches unused for longer than until, and keeps young temp files', async () => {
    const dir = path.join(cache.dir, 'context-stats');
    await fsp.mkdir(dir, { recursive: true });
    const old = path.join(dir, `${sha('old context')}.stats`);
    const fresh = path.join(dir, `${sha('fresh context')}.stats`);
    const temp = path.join(dir, `.${sha('fresh context')}.stats.42.abcd.tmp`);
    for (const f of [old, fresh, temp]) await fsp.writeFile(f, 'x'.repeat(5000));
    await age(old, 48 * HOUR);
    const result = await pruneCache(cache.dir, { all: false, untilMs: 24 * HOUR, ...noBuilds });
    assert.equal(result.removed.contextStats, 1);
    assert.equal(await exists(old), false);
    assert.ok(await exists(fresh));
    assert.ok(await exists(temp), 'a young temp file may belong to a build in flight');
  });

  it('measures a committed snapshot once and then takes its remembered size', async () => {
    const s = await cache.step('measured', 48 * HOUR);
    const first = await pruneCache(cache.dir, { all: false, keepBytes: 1e12, ...noBuilds });
    const sizes = JSON.parse(
      await fsp.readFile(path.join(cache.dir, 'sizes', 'snapshots.json'), 'utf8'),
    ) as Record<string, number>;
    assert.ok((sizes[s.snapshotId] ?? 0) > 0, 'the walk was remembered');
    // Snapshots never change; a file added behind the cache's back shows the walk is not redone.
    await fsp.writeFile(path.join(cache.snapshotPath(s.snapshotId), 'fs', 'big'), 'x'.repeat(1e6));
    const second = await pruneCache(cache.dir, { all: false, keepBytes: 1e12, ...noBuilds });
    assert.equal(second.remainingBytes, first.remainingBytes);
  });

  it('reports nothing to do for a cache directory that does not exist', async () => {
    const result = await pruneCache(path.join(cache.dir, 'missing'), { all: true, ...noBuilds });
    assert.equal(result.reclaimedBytes, 0);
  });
});
