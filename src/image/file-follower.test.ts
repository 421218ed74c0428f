import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, open, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Digest } from './digest.js';
import { FileFollower } from './file-follower.js';

const FIRST = 3 * 1024 * 1024 + 17;
const SECOND = 2 * 1024 * 1024 + 5;

/** Waits until `check` holds, for at most 30 s: what is waited for is an event, not a time. */
async function until(check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited += 5) {
    if (waited > 30_000) throw new Error('gave up waiting');
    await sleep(5);
  }
}

/** The files this process has open. */
async function openPaths(): Promise<string[]> {
  const fds = await readdir('/proc/self/fd');
  const paths = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return paths;
}

describe('FileFollower', () => {
  it('hashes what another process appends while it writes, and the rest once it exits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-follow-'));
    try {
      const path = join(dir, 'blob');
      const file = await open(path, 'w');
      const follower = await FileFollower.start(path);
      // The writer holds its second part back until the test has seen the first one hashed.
      const writer = spawn(
        'sh',
        ['-c', `head -c ${FIRST} /dev/urandom; read go; head -c ${SECOND} /dev/urandom`],
        { stdio: ['pipe', file.fd, 'inherit'] },
      );
      await file.close();
      await until(() => follower.hashed === FIRST);
      writer.stdin?.end('go\n');
      const [code] = await once(writer, 'close');
      assert.equal(code, 0);

      const { digest, size } = await follower.finish();
      const written = await readFile(path);
      assert.equal(written.length, FIRST + SECOND);
      assert.equal(size, written.length);
      assert.equal(digest, sha256Digest(written));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hashes an empty file that the writer never wrote to', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-follow-'));
    try {
      const path = join(dir, 'empty');
      await (await open(path, 'w')).close();
      const follower = await FileFollower.start(path);
      assert.deepEqual(await follower.finish(), { digest: sha256Digest(Buffer.alloc(0)), size: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('closes the file when it is stopped before the writer finished', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-follow-'));
    try {
      const path = join(dir, 'blob');
      await (await open(path, 'w')).close();
      const follower = await FileFollower.start(path);
      assert.ok((await openPaths()).includes(path));
      await follower.stop();
      assert.ok(!(await openPaths()).includes(path));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
