/**
 * The local cache under concurrency and crashes: two kiln processes on one cache dir agree on
 * every step, and a build killed with SIGKILL at any point leaves nothing a rebuild trusts wrongly.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { jsonEvents, KILN_BIN, runKiln } from './support/kiln.js';
import { RUN_STAMP } from './support/run-stamp.js';

const FILES = 3000;

/** Every descendant of `pid` (children first found through /proc via ps). */
function descendants(pid: number): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0);
  return children.flatMap((c) => [c, ...descendants(c)]);
}

function killTree(child: ChildProcess): void {
  const pids = [child.pid!, ...descendants(child.pid!)];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

describe('local cache safety', () => {
  const fixture = useBusyboxRegistry('cache-safety');

  async function context(name: string, dockerfile: string): Promise<string> {
    const dir = join(fixture.work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    await writeFile(join(dir, 'input.txt'), `input of ${name}\n`);
    return dir;
  }

  it('lets two kiln processes build one Dockerfile on one cache dir with the same digest', async () => {
    const ctx = await context(
      'concurrent',
      `FROM ${fixture.base}\nCOPY input.txt /\nRUN ${RUN_STAMP} > /stamp && sleep 1\nRUN ${RUN_STAMP} > /stamp2\n`,
    );
    const cacheDir = join(fixture.work, 'cache-concurrent');
    const build = (i: number) =>
      runKiln([
        'build',
        '--progress=json',
        '--cache-dir',
        cacheDir,
        '-o',
        `type=oci,dest=${join(fixture.work, `concurrent-${i}`)},tar=false`,
        ctx,
      ]);
    const [a, b] = await Promise.all([build(1), build(2)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const digest = (stderr: string) => jsonEvents(stderr).find((e) => e.type === 'result')?.digest;
    assert.ok(digest(a.stderr));
    assert.equal(digest(a.stderr), digest(b.stderr), 'the RUN stamps came from one execution');
  });

  it('does not reuse a snapshot whose run died before writing its record', async () => {
    const ctx = await context(
      'orphan',
      `FROM ${fixture.base}\nRUN ${RUN_STAMP} > /stamp\nRUN cp /stamp /stamp2\n`,
    );
    const cacheDir = join(fixture.work, 'cache-orphan');
    const build = (out: string) =>
      runKiln([
        'build',
        '--progress=json',
        '--cache-dir',
        cacheDir,
        '-o',
        `type=local,dest=${out}`,
        ctx,
      ]);
    const first = await build(join(fixture.work, 'orphan-1'));
    assert.equal(first.code, 0, first.stderr);
    // What a kill between the snapshot commit and the record write leaves: snapshots, no records.
    await rm(join(cacheDir, 'records'), { recursive: true, force: true });

    const out = join(fixture.work, 'orphan-2');
    const second = await build(out);
    assert.equal(second.code, 0, second.stderr);
    const stamp = await readFile(join(out, 'stamp'), 'utf8');
    assert.notEqual(
      stamp,
      await readFile(join(fixture.work, 'orphan-1', 'stamp'), 'utf8'),
      'RUN ran again',
    );
    assert.equal(await readFile(join(out, 'stamp2'), 'utf8'), stamp, 'the next RUN saw this run');
  });

  it('rebuilds correctly after SIGKILL at different points of a long RUN', async () => {
    const ctx = await context(
      'killed',
      `FROM ${fixture.base}\nRUN mkdir /data && i=0; while [ $i -lt ${FILES} ]; do i=$((i+1)); ` +
        `echo "file $i" > /data/f$i; done; echo wrote-all\n`,
    );
    const cacheDir = join(fixture.work, 'cache-killed');
    const args = ['build', '--progress=json', '--cache-dir', cacheDir, ctx];
    // Kill during the RUN, right after it printed its last line (diff, blob, snapshot, record),
    // and a little later.
    const points = [
      { after: 'started', delayMs: 300 },
      { after: 'wrote-all', delayMs: 0 },
      { after: 'wrote-all', delayMs: 40 },
      { after: 'wrote-all', delayMs: 150 },
    ];
    for (const point of points) {
      await rm(cacheDir, { recursive: true, force: true });
      const child = spawn(process.execPath, [KILN_BIN, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let seen = '';
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve) => {
        child.stderr!.on('data', (chunk: Buffer) => {
          seen += chunk.toString();
          const hit =
            point.after === 'started'
              ? /"status":"started"[^\n]*RUN|RUN[^\n]*"status":"started"/.test(seen)
              : seen.includes('wrote-all');
          if (hit) resolve();
        });
        child.once('exit', () => resolve());
      });
      await sleep(point.delayMs);
      killTree(child);
      await exited;

      const out = join(fixture.work, 'killed-out');
      await rm(out, { recursive: true, force: true });
      const res = await runKiln([
        'build',
        '--progress=json',
        '--cache-dir',
        cacheDir,
        '-o',
        `type=local,dest=${out}`,
        ctx,
      ]);
      assert.equal(res.code, 0, `${JSON.stringify(point)}\n${res.stderr}`);
      const files = await readdir(join(out, 'data'));
      assert.equal(files.length, FILES, JSON.stringify(point));
      assert.equal(await readFile(join(out, 'data', `f${FILES}`), 'utf8'), `file ${FILES}\n`);
    }
  });
});
