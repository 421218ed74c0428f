import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { acquireLock, tryLock } from './file-lock.js';

test('a second tryLock fails while the first holder keeps the lock, and succeeds after', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-lock-'));
  try {
    const lock = path.join(dir, 'x.lock');
    const first = await tryLock(lock);
    assert.ok(first);
    assert.equal(await tryLock(lock), undefined);
    await first.release();
    const again = await tryLock(lock);
    assert.ok(again);
    await again.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('breaks a lock whose holder process has exited', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-lock-'));
  try {
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid;
    await new Promise((resolve) => child.on('close', resolve));
    const lock = path.join(dir, 'dead.lock');
    await writeFile(lock, `${os.hostname()} ${pid}\n`);
    const held = await tryLock(lock);
    assert.ok(held, 'the dead holder’s lock is broken');
    assert.equal(await readFile(lock, 'utf8'), `${os.hostname()} ${process.pid}\n`);
    await held.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('acquireLock waits for the holder to release', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-lock-'));
  try {
    const lock = path.join(dir, 'wait.lock');
    const first = await tryLock(lock);
    assert.ok(first);
    const order: string[] = [];
    const waiting = acquireLock(lock).then((l) => {
      order.push('second');
      return l;
    });
    await new Promise((resolve) => setTimeout(resolve, 250));
    order.push('first-release');
    await first.release();
    await (await waiting).release();
    assert.deepEqual(order, ['first-release', 'second']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('acquireLock stops waiting when its signal aborts', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-lock-'));
  try {
    const lock = path.join(dir, 'abort.lock');
    const first = await tryLock(lock);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 150);
    await assert.rejects(acquireLock(lock, ac.signal));
    await first?.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
