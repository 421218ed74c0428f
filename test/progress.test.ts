/**
 * The progress renderers through the real CLI: json is one event per line with stdout empty,
 * a cached rebuild emits only `cached` for its steps, plain suits CI logs, quiet shows only errors,
 * and tty redraws in place under a pseudo-terminal (util-linux `script` provides one).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { jsonEvents, KILN_BIN, runKiln } from './support/kiln.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

describe('progress output', () => {
  let registry: TestRegistry;
  let work: string;
  let ctx: string;

  before(async () => {
    registry = await startRegistry();
    const base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-progress-'));
    ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'a.txt'), 'a\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${base} AS build\nCOPY a.txt /a.txt\nRUN echo building; echo warn >&2\n` +
        `FROM ${base}\nCOPY --from=build /a.txt /b.txt\n`,
    );
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('writes one JSON event per line on stderr and nothing on stdout', async () => {
    const cache = join(work, 'cache-json');
    const first = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      cache,
      '-o',
      join(work, 'out-json'),
      ctx,
    ]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, '');
    const lines = first.stderr.trim().split('\n');
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = events.filter((e) => e.type === 'step');
    const names = new Set(steps.map((e) => e.name));
    assert.ok(names.has('[build 3/3] RUN echo building; echo warn >&2'), [...names].join('\n'));
    const logs = events.filter((e) => e.type === 'log');
    assert.ok(logs.some((e) => e.stream === 'stdout' && String(e.data).includes('building')));
    assert.ok(logs.some((e) => e.stream === 'stderr' && String(e.data).includes('warn')));
    for (const e of steps.filter((s) => s.status === 'done')) {
      assert.equal(typeof e.duration_ms, 'number');
    }
    assert.equal(events.at(-1)?.type, 'result');

    const second = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      cache,
      '-o',
      join(work, 'out-json2'),
      ctx,
    ]);
    assert.equal(second.code, 0, second.stderr);
    const again = jsonEvents(second.stderr).filter((e) => e.type === 'step');
    const run = again.filter((e) => String(e.name).includes('RUN echo building'));
    assert.deepEqual(
      run.map((e) => e.status),
      ['cached'],
      'a cached step emits only cached',
    );
    assert.equal(
      jsonEvents(second.stderr).find((e) => e.type === 'result')?.digest,
      events.at(-1)?.digest,
      'a cached rebuild gives the same digest',
    );
  });

  it('prints numbered steps with their logs in plain mode and only errors in quiet mode', async () => {
    const plain = await runKiln([
      'build',
      '--progress=plain',
      '--no-cache',
      '--cache-dir',
      join(work, 'cache-plain'),
      ctx,
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /^#\d+ \[build 3\/3\] RUN echo building/m);
    assert.match(plain.stderr, /^#\d+ building$/m);
    assert.match(plain.stderr, /^#\d+ DONE \d+\.\ds$/m);

    const quiet = await runKiln([
      'build',
      '--progress=quiet',
      '--cache-dir',
      join(work, 'cache-q'),
      '-o',
      join(work, 'out-q'),
      ctx,
    ]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
  });

  it('draws a live view on a terminal', async () => {
    const command = [
      process.execPath,
      KILN_BIN,
      'build',
      '--cache-dir',
      join(work, 'cache-tty'),
      '-o',
      join(work, 'out-tty'),
      ctx,
    ]
      .map((w) => `'${w}'`)
      .join(' ');
    const res = await runCommand('script', ['-q', '-e', '-c', command, '/dev/null'], {
      timeoutMs: 120_000,
      env: { ...process.env, COLUMNS: '120', TERM: 'xterm' },
    });
    assert.equal(res.code, 0, res.stdout);
    assert.match(res.stdout, /\x1b\[\d+F/, 'the view moves the cursor up to redraw');
    assert.match(res.stdout, /=> \[\d+\] \[build 3\/3\] RUN echo building/);
    assert.match(res.stdout, /done \d+\.\ds/);
  });
});
