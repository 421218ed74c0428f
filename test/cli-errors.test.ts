/**
 * Bad input and failing outputs through the real CLI: usage errors exit 2 (as JSON under
 * --progress=json), unusable cache dirs and outputs give clear errors, outputs are all or nothing,
 * and a rebuild whose steps are all cached still exports every output type.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { runCommand } from './support/command.js';
import { jsonEvents, KILN_BIN, runKiln } from './support/kiln.js';
import { skopeoInspect } from './support/oci-tools.js';

describe('kiln build with bad input and failing outputs', () => {
  const fixture = useBusyboxRegistry('errors');
  let work: string;
  let ctx: string;

  before(async () => {
    work = fixture.work;
    ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${fixture.base}\nRUN echo one > /one\n`);
  });

  it('exits 2 on usage errors of any command', async () => {
    for (const args of [
      ['build', '--bogus', ctx],
      ['build'],
      ['build', ctx, ctx],
      ['build', '--progress=fancy', ctx],
      ['build', '--network', 'bridge', ctx],
      ['build', '--platform', 'linux/bogus', ctx],
      ['build', '-o', '', ctx],
      ['build', '-o', '-', '-o', 'type=tar,dest=-', ctx],
      ['prune', '--bogus'],
    ]) {
      const res = await runKiln(args);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    }
    const json = await runKiln(['build', '--progress=json', '--bogus', ctx]);
    assert.equal(json.code, 2);
    const [event] = jsonEvents(json.stderr);
    assert.equal(event?.type, 'error');
    assert.match(String(event?.message), /--bogus/);
  });

  it('exits 2 naming the context when it is a file or missing, before building', async () => {
    const file = join(ctx, 'Dockerfile');
    const missing = join(work, 'no-context-here');
    for (const [args, code, what] of [
      [['build', '--progress=json', '-f', file, file], 'CONTEXT_NOT_DIRECTORY', file],
      [['build', '--progress=json', '-f', file, missing], 'CONTEXT_NOT_FOUND', missing],
      [['executor', '-c', file, '-f', file, '--no-push'], 'CONTEXT_NOT_DIRECTORY', file],
      [['executor', '-c', missing, '-f', file, '--no-push'], 'CONTEXT_NOT_FOUND', missing],
    ] as const) {
      const res = await runKiln([...args]);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.ok(res.stderr.includes(what), res.stderr);
      assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
      if (args[0] === 'build') {
        assert.equal(jsonEvents(res.stderr).find((e) => e.type === 'error')?.code, code);
      }
    }
  });

  it('refuses to push to a name with a digest before building anything', async () => {
    const pinned = `${fixture.registry.host}/pinned/app@sha256:${'a'.repeat(64)}`;
    for (const [args, flag] of [
      [['build', '-t', pinned, '--push', ctx], '-t'],
      [['build', '-o', `type=registry,name=${pinned}`, ctx], 'type=registry'],
      [['build', '-o', `type=image,name=${pinned},push=true`, ctx], 'type=image'],
      [['executor', '-c', ctx, '--destination', pinned], '--destination'],
    ] as const) {
      const run = await runKiln([...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.ok(run.stderr.includes(flag) && run.stderr.includes(pinned), run.stderr);
      assert.match(run.stderr, /digest/);
      assert.doesNotMatch(run.stderr, /RUN echo/, 'nothing was built');
    }
  });

  it('refuses a --secret file that is missing or a directory before building', async () => {
    const missing = join(work, 'no-such-secret');
    for (const [spec, path, why] of [
      [`id=b,src=${missing}`, missing, /not found|no such/i],
      [`id=b,src=${work}`, work, /directory/],
      [`id=${missing}`, missing, /not found|no such/i],
    ] as const) {
      const res = await runKiln(['build', '--progress=json', '--secret', spec, ctx]);
      assert.equal(res.code, 2, `${spec}: ${res.stderr}`);
      const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
      assert.equal(error?.code, 'SECRET_INVALID', res.stderr);
      assert.ok(String(error?.message).includes('--secret'), res.stderr);
      assert.ok(String(error?.message).includes(path), res.stderr);
      assert.match(String(error?.message), why);
      assert.doesNotMatch(res.stderr, /RUN echo/, 'nothing was built');
    }
  });

  it('refuses a cache dir it cannot use, without hanging', async () => {
    for (const dir of ['/proc/kiln-nope', '/etc/passwd']) {
      const res = await runKiln(['build', '--cache-dir', dir, ctx], { timeoutMs: 60_000 });
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, /cannot use .* as the cache directory/);
      assert.doesNotMatch(res.stderr, /at .*\.js:\d+/, 'no stack trace');
    }
  });

  it('exports every output type on a rebuild whose steps are all cached', async () => {
    const cache = join(work, 'cache-rebuild');
    for (const round of [1, 2]) {
      const out = join(work, `rebuild-${round}`);
      const res = await runKiln([
        'build',
        '--progress=quiet',
        '--cache-dir',
        cache,
        '-o',
        `type=docker,dest=${out}-docker.tar`,
        '-o',
        `type=oci,dest=${out}-oci.tar`,
        '-o',
        `type=tar,dest=${out}-rootfs.tar`,
        '-o',
        `${out}-dir`,
        ctx,
      ]);
      assert.equal(res.code, 0, `round ${round}: ${res.stderr}`);
      await skopeoInspect(`docker-archive:${out}-docker.tar`);
      await skopeoInspect(`oci-archive:${out}-oci.tar`);
      assert.equal(await readFile(join(`${out}-dir`, 'one'), 'utf8'), 'one\n');
    }
  });

  it('says so, without a stack, when the reader of stdout stops early', async () => {
    const kiln = `'${process.execPath}' '${KILN_BIN}'`;
    const cache = join(work, 'cache-epipe');
    const res = await runCommand(
      '/bin/sh',
      [
        '-c',
        `${kiln} build --progress=plain --cache-dir '${cache}' -o type=oci,dest=- '${ctx}' ` +
          `2>'${join(work, 'epipe.err')}' | head -c 100 >/dev/null`,
      ],
      { check: false, timeoutMs: 300_000 },
    );
    assert.equal(res.code, 0);
    const stderr = await readFile(join(work, 'epipe.err'), 'utf8');
    assert.match(stderr, /ERROR: the reader of stdout closed it before the end/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  });

  it('refuses an output it cannot write before building, keeping earlier files', async () => {
    const first = join(work, 'first.tar');
    await writeFile(first, 'earlier');
    const readOnly = join(work, 'ro');
    await mkdir(readOnly);
    await writeFile(join(readOnly, 'keep'), 'x');
    const dirOut = join(work, 'dir-out');
    const res = await runKiln([
      'build',
      '--progress=plain',
      '--cache-dir',
      join(work, 'cache-aon'),
      '-o',
      `type=oci,dest=${first}`,
      '-o',
      dirOut,
      '-o',
      `type=tar,dest=${join(readOnly, 'keep', 'x.tar')}`,
      ctx,
    ]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /cannot write -o type=tar,dest=.*keep.*: .*keep is not a directory/);
    assert.equal(await readFile(first, 'utf8'), 'earlier', 'the earlier file is intact');
    await assert.rejects(stat(dirOut), 'the directory output was not moved into place');
    const leftovers = (await readdir(work)).filter(
      (n) => n.includes('.tmp') || n.includes('kiln-'),
    );
    assert.deepEqual(leftovers, [], 'no temp files are left beside the outputs');
    await chmod(readOnly, 0o755);
  });
});
