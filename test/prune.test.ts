/**
 * `kiln prune` on a cache that real builds filled: old entries go, new ones stay, and the cache
 * still builds afterwards.
 */

import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scanCache } from '../src/cache/prune-inventory.js';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { runCommand } from './support/command.js';
import { jsonEvents, runKiln, runKilnAs } from './support/kiln.js';
import { ensureTestUser } from './support/users.js';

const HOUR = 3600_000;

/** Moves the times of every record, step snapshot and blob back, as if used `ms` ago. */
async function ageCache(cacheDir: string, ms: number): Promise<void> {
  const t = new Date(Date.now() - ms);
  const dirs = [join(cacheDir, 'blobs', 'sha256'), join(cacheDir, 'snapshots')];
  for (const shard of await readdir(join(cacheDir, 'records'))) {
    dirs.push(join(cacheDir, 'records', shard));
  }
  for (const dir of dirs) {
    for (const name of await readdir(dir)) await utimes(join(dir, name), t, t);
  }
}

async function recordFiles(cacheDir: string): Promise<Set<string>> {
  return new Set((await scanCache(cacheDir)).records.map((r) => r.path));
}

describe('kiln prune', () => {
  const fixture = useBusyboxRegistry('prune');

  async function context(name: string): Promise<string> {
    const dir = join(fixture.work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'Dockerfile'),
      `FROM ${fixture.base}\nRUN echo ${name} > /${name}.txt\nRUN echo more-${name} >> /${name}.txt\n`,
    );
    return dir;
  }

  function build(cacheDir: string, ctx: string) {
    return runKiln(['build', '--progress=json', '--cache-dir', cacheDir, ctx]);
  }

  function runSteps(stderr: string): string[] {
    return jsonEvents(stderr)
      .filter((e) => e.type === 'step' && e.status === 'done' && /RUN/.test(String(e.name)))
      .map((e) => String(e.name));
  }

  it('removes entries unused for longer than until, and the cache builds again afterwards', async () => {
    const cache = join(fixture.work, 'cache-until');
    const oldCtx = await context('old');
    assert.equal((await build(cache, oldCtx)).code, 0);
    await ageCache(cache, 48 * HOUR);
    const oldRecords = await recordFiles(cache);
    assert.equal(oldRecords.size, 2, 'one record per RUN step');

    const newCtx = await context('new');
    assert.equal((await build(cache, newCtx)).code, 0);
    const newRecords = [...(await recordFiles(cache))].filter((r) => !oldRecords.has(r));

    const res = await runKiln(['prune', '--cache-dir', cache, '--filter', 'until=24h']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /Deleted: 2 step records, 2 snapshots, 2 blobs/);
    assert.match(res.stdout, /Total reclaimed: \d/);

    const left = await recordFiles(cache);
    for (const r of oldRecords) assert.equal(left.has(r), false, `${r} was pruned`);
    for (const r of newRecords) assert.ok(left.has(r), `${r} was kept`);
    const inv = await scanCache(cache);
    for (const r of inv.records) {
      const layer = r.record.layer;
      if (layer) assert.ok(inv.blobs.has(layer.digest), 'no record outlives its blob');
    }

    const again = await build(cache, oldCtx);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(runSteps(again.stderr).length, 2, 'the pruned steps ran again');
    const cached = await build(cache, newCtx);
    assert.equal(cached.code, 0, cached.stderr);
    assert.equal(runSteps(cached.stderr).length, 0, 'the kept steps are still cached');
  });

  it('keeps the most recently used entries within --keep-storage', async () => {
    const cache = join(fixture.work, 'cache-keep');
    assert.equal((await build(cache, await context('first'))).code, 0);
    await ageCache(cache, 2 * HOUR);
    const firstRecords = await recordFiles(cache);
    const firstInv = await scanCache(cache);
    let firstBytes = 0;
    for (const r of firstInv.records) {
      const layer = r.record.layer;
      firstBytes += r.bytes;
      if (layer) {
        firstBytes += firstInv.snapshots.get(layer.snapshotId)?.bytes ?? 0;
        firstBytes += firstInv.blobs.get(layer.digest)?.bytes ?? 0;
      }
    }

    assert.equal((await build(cache, await context('second'))).code, 0);
    const all = await recordFiles(cache);
    const secondRecords = [...all].filter((r) => !firstRecords.has(r));
    const inv = await scanCache(cache);
    const total = [
      ...inv.records,
      ...inv.blobs.values(),
      ...inv.snapshots.values(),
      ...inv.temps,
      ...inv.logs,
    ].reduce((sum, i) => sum + i.bytes, 0);

    const keep = total - firstBytes + 1;
    const res = await runKiln(['prune', '--cache-dir', cache, '--keep-storage', String(keep)]);
    assert.equal(res.code, 0, res.stderr);
    const left = await recordFiles(cache);
    for (const r of firstRecords) assert.equal(left.has(r), false, 'the older build went');
    for (const r of secondRecords) assert.ok(left.has(r), 'the newer build stayed');

    const none = await runKiln(['prune', '--cache-dir', cache, '--keep-storage', '10GB']);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /Total reclaimed: 0B/);
    assert.equal((await recordFiles(cache)).size, secondRecords.length);
  });

  it('removes everything with --all, fixture.base layers included', async () => {
    const cache = join(fixture.work, 'cache-all');
    assert.equal((await build(cache, await context('all'))).code, 0);
    const res = await runKiln(['prune', '--all', '--cache-dir', cache]);
    assert.equal(res.code, 0, res.stderr);
    const inv = await scanCache(cache);
    assert.equal(inv.records.length, 0);
    assert.equal(inv.snapshots.size, 0);
    assert.equal(inv.blobs.size, 0);
  });

  it('rejects a bad size or filter with exit code 2', async () => {
    const size = await runKiln(['prune', '--keep-storage', 'lots', '--cache-dir', fixture.work]);
    assert.equal(size.code, 2, size.stderr);
    assert.match(size.stderr, /not a size/);
    const filter = await runKiln(['prune', '--filter', 'type=exec', '--cache-dir', fixture.work]);
    assert.equal(filter.code, 2, filter.stderr);
    assert.match(filter.stderr, /unknown filter "type"/);
  });

  it('refuses a cache path that is a file with exit code 2, as kiln build does', async () => {
    const file = join(fixture.work, 'cache-is-a-file');
    await writeFile(file, 'not a cache\n');
    const prune = await runKiln(['prune', '--cache-dir', file]);
    assert.equal(prune.code, 2, prune.stderr);
    assert.match(prune.stderr, /cannot use .*cache-is-a-file as the cache directory/);
    assert.doesNotMatch(prune.stderr + prune.stdout, /Deleted/);
  });

  it('names the entry and its owner when a user cannot remove what root wrote', async () => {
    const user = await ensureTestUser();
    const dir = await mkdtemp(join(tmpdir(), 'kiln-prune-owner-'));
    try {
      await chmod(dir, 0o755);
      const cache = join(dir, 'cache');
      const ctx = await context('owner');
      assert.equal((await build(cache, ctx)).code, 0);
      // The user owns the cache, but root wrote the entries of one record shard.
      await runCommand('chown', ['-R', `${user.uid}:${user.gid}`, cache]);
      const shard = (await readdir(join(cache, 'records')))[0]!;
      await runCommand('chown', ['-R', '0:0', join(cache, 'records', shard)]);
      const prune = await runKilnAs(user, ['prune', '--all', '--cache-dir', cache]);
      assert.equal(prune.code, 1, prune.stderr);
      assert.match(prune.stderr, new RegExp(`records/${shard}`));
      assert.match(prune.stderr, /permission denied/i);
      assert.match(prune.stderr, /such as root|uid 0/);
      assert.doesNotMatch(prune.stderr, /EACCES:|\n\s+at /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
