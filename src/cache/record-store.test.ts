import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobStore } from './blob-store.js';
import { RecordStore } from './record-store.js';
import type { StepRecord } from './step-record.js';

const KEY = `sha256:${'ab'.repeat(32)}`;

describe('RecordStore', () => {
  let dir: string;
  let blobs: BlobStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-records-'));
    blobs = new BlobStore(dir);
    await blobs.init();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function withLayer(): Promise<StepRecord> {
    const digest = await blobs.putBuffer(Buffer.from('layer bytes'));
    return {
      key: KEY,
      created: 'now',
      layer: { diffId: digest, digest, size: 11, mediaType: 'm', snapshotId: 's' },
    };
  }

  it('reads back a record and leaves no temp files beside it', async () => {
    const store = new RecordStore(dir, blobs);
    const record = await withLayer();
    await store.put(record);
    assert.deepEqual(await store.get(KEY), record);
    const files = await readdir(join(dir, 'records', 'ab'));
    assert.deepEqual(files, [`${'ab'.repeat(32)}.json`]);
  });

  it('treats a truncated record as a miss', async () => {
    await writeFile(join(dir, 'records', 'ab', `${'ab'.repeat(32)}.json`), '{"key":"sha');
    assert.equal(await new RecordStore(dir, blobs).get(KEY), undefined);
  });

  it('treats a record whose layer blob is gone as a miss', async () => {
    const store = new RecordStore(dir, blobs);
    const record = await withLayer();
    await store.put(record);
    await rm(blobs.pathOf(record.layer!.digest));
    assert.equal(await store.get(KEY), undefined);
  });

  it('answers from imported records after local ones and remembers what it used', async () => {
    const store = new RecordStore(join(dir, 'other'), blobs);
    const imported: StepRecord = { key: KEY, created: 'then' };
    store.addImported([imported]);
    assert.deepEqual(await store.get(KEY), imported);
    assert.deepEqual(store.usedRecords(), [imported]);
    await mkdir(join(dir, 'other', 'records'), { recursive: true });
  });

  it('runs one holder of a step lock at a time', async () => {
    const store = new RecordStore(dir, blobs);
    const signal = new AbortController().signal;
    const order: string[] = [];
    const hold = (name: string) =>
      store.exclusive(KEY, signal, async () => {
        order.push(`${name} in`);
        await sleep(150);
        order.push(`${name} out`);
      });
    await Promise.all([hold('a'), sleep(20).then(() => hold('b'))]);
    assert.deepEqual(order, ['a in', 'a out', 'b in', 'b out']);
  });

  it('breaks a lock left by a dead process on this host', async () => {
    const lock = join(dir, 'locks', `${'ab'.repeat(32)}.lock`);
    await mkdir(join(dir, 'locks'), { recursive: true });
    const { hostname } = await import('node:os');
    // pid 2^22 + 1 is above Linux's pid_max limit, so no process can have it.
    await writeFile(lock, JSON.stringify({ pid: 4194305, host: hostname(), nonce: 'x' }));
    const store = new RecordStore(dir, blobs);
    const got = await store.exclusive(KEY, new AbortController().signal, async () => 'ran');
    assert.equal(got, 'ran');
  });

  it('gives up waiting for a lock when the build is aborted', async () => {
    const lock = join(dir, 'locks', `${'ab'.repeat(32)}.lock`);
    await writeFile(
      lock,
      JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), nonce: 'y' }),
    );
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('stop')), 200);
    const store = new RecordStore(dir, blobs);
    await assert.rejects(
      store.exclusive(KEY, abort.signal, async () => 'ran'),
      /stop/,
    );
    await rm(lock);
  });
});
