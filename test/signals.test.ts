/**
 * An interrupted build stops: SIGTERM while kiln waits on a server that never answers ends it
 * with 143 within the grace period, and the namespaced child stops when its parent is killed
 * with SIGKILL instead of building on alone.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { KILN_BIN } from './support/kiln.js';

/** Processes whose command line contains `marker`. */
function pidsWith(marker: string): number[] {
  return readdirSync('/proc').flatMap((name) => {
    if (!/^\d+$/.test(name)) return [];
    try {
      return readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker) ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

describe('interrupted builds', () => {
  const env = useBusyboxRegistry('signals');
  let stalled: Server;
  let url: string;

  before(async () => {
    stalled = createServer(() => {});
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}/never`;
  });
  after(() => {
    stalled.closeAllConnections();
    stalled.close();
  });

  async function start(name: string, dockerfile: string) {
    const ctx = join(env.work, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    const cache = join(env.work, `cache-${name}`);
    const child = spawn(
      process.execPath,
      [KILN_BIN, 'build', '--progress=plain', '--cache-dir', cache, ctx],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code) => resolve(code)),
    );
    return { child, exited, cache };
  }

  it('ends with 143 soon after SIGTERM while a server never answers', async () => {
    const { child, exited } = await start('stall', `FROM ${env.base}\nADD ${url} /x\n`);
    await sleep(2000);
    const sent = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
    assert.equal(code, 143);
    assert.ok(Date.now() - sent < 10_000);
  });

  it('ends with 143 after SIGTERM while a thread waits in a read that never returns', async () => {
    // A secret whose source is a pipe nobody writes: reading it blocks a thread-pool thread in
    // open(2), which process.exit() would wait for.
    const fifo = join(env.work, 'secret-pipe');
    execFileSync('mkfifo', [fifo]);
    const ctx = join(env.work, 'blocked');
    await mkdir(ctx, { recursive: true });
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${env.base}\nRUN --mount=type=secret,id=s cat /run/secrets/s\n`,
    );
    const cache = join(env.work, 'cache-blocked');
    const child = spawn(
      process.execPath,
      [KILN_BIN, 'build', '--cache-dir', cache, '--secret', `id=s,src=${fifo}`, ctx],
      { stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGTERM' ? 143 : null))),
    );
    await sleep(4000);
    child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(20_000).then(() => 'still running')]);
    if (code === 'still running') {
      for (const pid of pidsWith(cache)) process.kill(pid, 'SIGKILL');
    }
    assert.equal(code, 143);
    assert.deepEqual(pidsWith(cache), [], 'nothing of the build is left running');
  });

  it('stops the namespaced child when its parent is killed with SIGKILL', async () => {
    const { child, exited, cache } = await start('orphan', `FROM ${env.base}\nRUN sleep 300\n`);
    let inner: number[] = [];
    for (let i = 0; i < 100 && inner.length === 0; i++) {
      await sleep(200);
      inner = pidsWith(cache).filter((pid) => pid !== child.pid);
    }
    assert.ok(inner.length > 0, 'the namespaced child started');
    child.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 200 && pidsWith(cache).length > 0; i++) await sleep(200);
    const left = pidsWith(cache).map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 200);
      } catch {
        return '';
      }
    });
    assert.deepEqual(left.filter(Boolean), [], 'nothing of the build is left running');
  });

  it('stops a namespaced child whose parent was gone before it started', async () => {
    // What a parent killed while `unshare` was still setting up leaves: a child whose first
    // parent is already not the kiln process that started it. Made here by starting the child
    // the way kiln does in chroot mode, naming as its parent a pid that is not.
    const ctx = join(env.work, 'late-orphan');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${env.base}\nRUN sleep 300\n`);
    const cache = join(env.work, 'cache-late-orphan');
    const args = ['--mount', '--propagation', 'private', '--', process.execPath, KILN_BIN];
    const child = spawn('/usr/bin/unshare', [...args, 'build', '--cache-dir', cache, ctx], {
      stdio: 'ignore',
      env: { ...process.env, KILN_SANDBOX: 'chroot', KILN_PARENT_PID: '1' },
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code) => resolve(code)),
    );
    const code = await Promise.race([exited, sleep(60_000).then(() => 'still running')]);
    if (code === 'still running') child.kill('SIGKILL');
    assert.equal(code, 143);
    assert.deepEqual(pidsWith(cache), [], 'nothing of the build is left running');
  });
});
