/**
 * A build the cache answers whole runs in the first process, without re-executing into a user
 * namespace; any step that has to run sends the build inside, where it starts over and reports
 * every step once. strace (a real tracer, not a hook in kiln) tells which programs a build ran.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { runCommand } from './support/command.js';
import { jsonEvents, KILN_BIN, runKilnAs } from './support/kiln.js';
import { ensureTestUser } from './support/users.js';

const STRACE = '/usr/bin/strace';

interface TracedBuild {
  code: number;
  stderr: string;
  /** Paths of every program the build's process tree executed. */
  programs: string[];
}

async function tracedKiln(work: string, args: string[]): Promise<TracedBuild> {
  const trace = join(work, `trace-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  const res = await runCommand(
    STRACE,
    [
      '-f',
      '-qq',
      '-e',
      'trace=execve',
      '-e',
      'signal=none',
      '-o',
      trace,
      process.execPath,
      KILN_BIN,
      ...args,
    ],
    { check: false, timeoutMs: 300_000 },
  );
  const lines = (await readFile(trace, 'utf8')).split('\n');
  const programs = lines.flatMap((l) => {
    const m = /execve\("([^"]+)"/.exec(l);
    return m && !/= -1 /.test(l) ? [m[1] as string] : [];
  });
  return { code: res.code ?? -1, stderr: res.stderr, programs };
}

/** `kiln build` of ctx into an OCI layout directory, with JSON progress. */
function ociBuild(cache: string, out: string, ctx: string): string[] {
  const output = `type=oci,dest=${out},tar=false`;
  return ['build', '--progress=json', '--cache-dir', cache, '-o', output, ctx];
}

function stepNames(stderr: string, status: string): string[] {
  return jsonEvents(stderr)
    .filter((e) => e.type === 'step' && e.status === status)
    .map((e) => String(e.name));
}

function digestOf(stderr: string): string {
  const result = jsonEvents(stderr).find((e) => e.type === 'result');
  return String(result?.digest);
}

describe('fully cached builds skip the sandbox', () => {
  const env = useBusyboxRegistry('cached-build');

  async function context(name: string, dockerfile: string): Promise<string> {
    const dir = join(env.work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'a.txt'), 'one\n');
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  }

  it('runs a rebuild with every step cached in one process, with the same image', async () => {
    const ctx = await context(
      'app',
      `FROM ${env.base} AS tool\nRUN echo made > /made.txt\n` +
        `FROM ${env.base}\nCOPY a.txt /a.txt\nCOPY --from=tool /made.txt /made.txt\n` +
        'RUN cat /a.txt /made.txt > /both.txt\nENV X=1\n',
    );
    const cache = join(env.work, 'cache-app');
    const args = (out: string) => ociBuild(cache, join(env.work, out), ctx);

    const cold = await tracedKiln(env.work, args('out-cold'));
    assert.equal(cold.code, 0, cold.stderr);
    assert.ok(cold.programs.includes('/usr/bin/unshare'), cold.programs.join('\n'));

    const noop = await tracedKiln(env.work, args('out-noop'));
    assert.equal(noop.code, 0, noop.stderr);
    assert.deepEqual(
      noop.programs.filter((p) => p !== process.execPath),
      [],
      'a cached build runs nothing but itself',
    );
    assert.equal(digestOf(noop.stderr), digestOf(cold.stderr));
    const cached = stepNames(noop.stderr, 'cached');
    assert.equal(cached.length, 4, cached.join('\n'));
    assert.equal(new Set(cached).size, cached.length, 'each step is reported once');
    const index = JSON.parse(await readFile(join(env.work, 'out-noop', 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, digestOf(cold.stderr));

    // One changed input: the build goes inside, reports each step once and reruns what changed.
    await writeFile(join(ctx, 'a.txt'), 'two\n');
    const edit = await tracedKiln(env.work, args('out-edit'));
    assert.equal(edit.code, 0, edit.stderr);
    assert.ok(edit.programs.includes('/usr/bin/unshare'), edit.programs.join('\n'));
    const all = jsonEvents(edit.stderr)
      .filter((e) => e.type === 'step' && e.status !== 'started')
      .map((e) => String(e.name));
    assert.equal(new Set(all).size, all.length, all.join('\n'));
    const reran = stepNames(edit.stderr, 'done').filter((n) => /^\[.* (COPY|RUN) /.test(n));
    assert.deepEqual(reran, [
      '[stage-1 2/4] COPY a.txt /a.txt',
      '[stage-1 3/4] COPY --from=tool /made.txt /made.txt',
      '[stage-1 4/4] RUN cat /a.txt /made.txt > /both.txt',
    ]);
    assert.notEqual(digestOf(edit.stderr), digestOf(cold.stderr));
  });

  it('reports a Dockerfile error from the first process, once, with its location', async () => {
    const ctx = await context(
      'bad',
      `FROM ${env.base}\nCOPY a.txt /a.txt\nRUN --mount=type=nope true\n`,
    );
    const args = ociBuild(join(env.work, 'cache-bad'), join(env.work, 'out-bad'), ctx);
    const res = await tracedKiln(env.work, args);
    assert.notEqual(res.code, 0);
    const errors = jsonEvents(res.stderr).filter((e) => e.type === 'error');
    assert.equal(errors.length, 1, res.stderr);
    assert.equal(errors[0]?.line, 3, JSON.stringify(errors[0]));
    assert.match(String(errors[0]?.file), /Dockerfile$/);
    assert.ok(!res.programs.includes('/usr/bin/unshare'), res.programs.join('\n'));
  });

  it('unpacks a local output inside the namespace even when every step is cached', async () => {
    const ctx = await context('local', `FROM ${env.base}\nRUN echo x > /x.txt\n`);
    const cache = join(env.work, 'cache-local');
    const build = (out: string) =>
      tracedKiln(env.work, ['build', '--progress=json', '--cache-dir', cache, '-o', out, ctx]);
    const first = await build(join(env.work, 'local-1'));
    assert.equal(first.code, 0, first.stderr);
    const again = await build(join(env.work, 'local-2'));
    assert.equal(again.code, 0, again.stderr);
    assert.ok(again.programs.includes('/usr/bin/unshare'), again.programs.join('\n'));
    assert.equal(await readFile(join(env.work, 'local-2', 'x.txt'), 'utf8'), 'x\n');
  });

  it('builds inside when the first process cannot read a file the namespace can', async () => {
    const user = await ensureTestUser();
    await chmod(env.work, 0o755);
    const dir = join(env.work, 'rootless');
    const ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'd'), { recursive: true });
    await writeFile(join(ctx, 'd', 'secret'), 's\n');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${env.base}\nCOPY . /c/\n`);
    await runCommand('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    await chmod(join(ctx, 'd', 'secret'), 0o000);
    const res = await runKilnAs(user, [
      'build',
      '--progress=plain',
      '--cache-dir',
      join(dir, 'cache'),
      '-o',
      `type=oci,dest=${join(dir, 'out')},tar=false`,
      ctx,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stderr.match(/COPY \. \/c\//g)?.length, 1, res.stderr);
  });

  it('downloads an ADD <url> once per build, and reports each step once', async () => {
    let downloads = 0;
    const server = createServer((_req, res) => {
      downloads++;
      res.end('remote\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/r.txt`;
      const ctx = await context('add', `FROM ${env.base}\nADD ${url} /r.txt\nCOPY a.txt /a.txt\n`);
      const cache = join(env.work, 'cache-add');
      const build = (out: string) =>
        tracedKiln(env.work, ociBuild(cache, join(env.work, out), ctx));
      const first = await build('add-1');
      assert.equal(first.code, 0, first.stderr);
      assert.equal(downloads, 1, 'one download in a build that runs steps');
      const again = await build('add-2');
      assert.equal(again.code, 0, again.stderr);
      assert.equal(downloads, 2, 'a rebuild checks the URL once');
      const steps = stepNames(again.stderr, 'cached');
      assert.equal(new Set(steps).size, steps.length, steps.join('\n'));
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
