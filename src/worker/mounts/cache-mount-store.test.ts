import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CacheMountStore, dirName } from './cache-mount-store.js';

const defaults = { mode: 0o750, uid: 0, gid: 0 };

async function withStore(fn: (store: CacheMountStore, dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-cachemounts-'));
  try {
    await fn(new CacheMountStore(dir), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('names directories after the id, escaping what is not safe in a file name', () => {
  assert.equal(dirName('go-build'), 'go-build');
  assert.equal(dirName('/root/.npm'), '%2Froot%2F.npm');
  assert.equal(dirName('..'), '%2E.');
  assert.equal(dirName('a@1'), 'a%401');
  assert.match(dirName('x'.repeat(300)), /^sha256-[0-9a-f]{64}$/);
});

test('makes a cache directory once, with the mode asked for, and keeps it', async () => {
  await withStore(async (store, dir) => {
    const first = await store.acquire({ id: 'c', sharing: 'shared', ...defaults });
    assert.equal(first.created, true);
    assert.equal(first.dir, path.join(dir, 'mounts', 'c'));
    assert.equal((await stat(first.dir)).mode & 0o777, 0o750);
    await writeFile(path.join(first.dir, 'kept'), 'x');
    await first.release();
    const second = await store.acquire({ id: 'c', sharing: 'shared', ...defaults });
    assert.equal(second.created, false);
    await stat(path.join(second.dir, 'kept'));
    await second.release();
  });
});

test('shared users of one id get the same directory at the same time', async () => {
  await withStore(async (store) => {
    const a = await store.acquire({ id: 's', sharing: 'shared', ...defaults });
    const b = await store.acquire({ id: 's', sharing: 'shared', ...defaults });
    assert.equal(a.dir, b.dir);
    await Promise.all([a.release(), b.release()]);
  });
});

test('a private user gets another directory while the first is busy', async () => {
  await withStore(async (store) => {
    const a = await store.acquire({ id: 'p', sharing: 'private', ...defaults });
    const b = await store.acquire({ id: 'p', sharing: 'private', ...defaults });
    assert.notEqual(a.dir, b.dir);
    assert.equal(b.created, true);
    await b.release();
    const c = await store.acquire({ id: 'p', sharing: 'private', ...defaults });
    assert.equal(c.dir, b.dir, 'a free instance is reused');
    await Promise.all([a.release(), c.release()]);
  });
});

test('a locked user waits until the holder of the id releases it', async () => {
  await withStore(async (store) => {
    const a = await store.acquire({ id: 'l', sharing: 'locked', ...defaults });
    let got = false;
    const waiting = store.acquire({ id: 'l', sharing: 'locked', ...defaults }).then((lease) => {
      got = true;
      return lease;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(got, false, 'still waiting');
    await a.release();
    const b = await waiting;
    assert.equal(b.dir, a.dir);
    await b.release();
  });
});
