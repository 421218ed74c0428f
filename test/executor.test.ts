/**
 * `kiln executor` as a kaniko job would run it: kaniko's flags, a real registry, and the results
 * checked with skopeo and umoci.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln } from './support/kiln.js';
import { skopeoInspect, umociUnpack } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

describe('kiln executor', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  let context: string;

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-executor-'));
    context = join(work, 'ctx');
    await mkdir(join(context, 'docker'), { recursive: true });
    await writeFile(join(context, 'greeting.txt'), 'hello from the context\n');
    await writeFile(
      join(context, 'docker', 'Dockerfile'),
      `FROM ${base}\nCOPY greeting.txt /greeting.txt\nRUN echo made > /made.txt\n`,
    );
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes to every --destination and writes the digest files kaniko writes', async () => {
    const refs = [`${registry.host}/exec/app:v1`, `${registry.host}/exec/app:stable`];
    const res = await runKiln([
      'executor',
      `--context=dir://${context}`,
      '--dockerfile',
      'docker/Dockerfile',
      '--destination',
      refs[0] as string,
      `-d=${refs[1]}`,
      `--cache-dir=${join(work, 'cache-push')}`,
      '--digest-file',
      join(work, 'out', 'digest'),
      `--image-name-with-digest-file=${join(work, 'out', 'names')}`,
      `--image-name-tag-with-digest-file=${join(work, 'out', 'name-tags')}`,
      '--log-format=json',
    ]);
    assert.equal(res.code, 0, res.stderr);

    const digest = await readFile(join(work, 'out', 'digest'), 'utf8');
    assert.match(digest, /^sha256:[a-f0-9]{64}$/);
    for (const ref of refs) {
      const remote = await skopeoInspect(`docker://${ref}`);
      assert.equal(remote.Digest, digest, `${ref} is the manifest in the digest file`);
    }
    const repo = `${registry.host}/exec/app`;
    assert.equal(
      await readFile(join(work, 'out', 'names'), 'utf8'),
      `${repo}@${digest}\n${repo}@${digest}\n`,
    );
    assert.equal(
      await readFile(join(work, 'out', 'name-tags'), 'utf8'),
      `${repo}:v1@${digest}\n${repo}:stable@${digest}\n`,
    );
    const result = jsonEvents(res.stderr).find((e) => e.type === 'result');
    assert.equal(result?.digest, digest);
  });

  it('writes a docker archive and an OCI layout with --no-push, reproducibly, warning for ignored flags', async () => {
    const ref = `${registry.host}/exec/nopush:v2`;
    const tarPath = join(work, 'image.tar');
    const layout = join(work, 'layout');
    const res = await runKiln([
      'executor',
      '--context',
      context,
      '-f',
      join(context, 'docker', 'Dockerfile'),
      '-d',
      ref,
      '--no-push',
      '--tar-path',
      tarPath,
      `--oci-layout-path=${layout}`,
      '--digest-file',
      join(work, 'nopush-digest'),
      `--cache-dir=${join(work, 'cache-nopush')}`,
      '--single-snapshot',
      '--cleanup=true',
      '--reproducible',
      '--log-format=json',
    ]);
    assert.equal(res.code, 0, res.stderr);

    const warnings = jsonEvents(res.stderr)
      .filter((e) => e.type === 'warning')
      .map((e) => String(e.message));
    assert.ok(
      warnings.some((m) => /--single-snapshot is accepted but has no effect/.test(m)),
      warnings.join('\n'),
    );
    assert.equal(warnings.filter((m) => /--cleanup/.test(m)).length, 1, 'warned once');

    const digest = await readFile(join(work, 'nopush-digest'), 'utf8');
    const fromLayout = await skopeoInspect(`oci:${layout}:v2`);
    assert.equal(fromLayout.Digest, digest);
    assert.equal(fromLayout.Created, '1970-01-01T00:00:00Z', '--reproducible: times at the epoch');
    const fromTar = await skopeoInspect(`docker-archive:${tarPath}`);
    assert.equal((fromTar.Layers as string[]).length, 3, 'base, COPY and RUN layers');
    assert.ok((await stat(tarPath)).size > 0);
    await assert.rejects(skopeoInspect(`docker://${ref}`), 'nothing was pushed');

    const bundle = join(work, 'bundle');
    await umociUnpack(layout, 'v2', bundle);
    assert.equal(await readFile(join(bundle, 'rootfs/made.txt'), 'utf8'), 'made\n');
    assert.equal(
      await readFile(join(bundle, 'rootfs/greeting.txt'), 'utf8'),
      'hello from the context\n',
    );
  });

  it('exits 2 on an unknown flag and on an unsupported context scheme, building nothing', async () => {
    const unknown = await runKiln([
      'executor',
      '--no-push',
      '--no-such-flag',
      '--context',
      context,
    ]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /unknown flag: --no-such-flag/);

    const s3 = await runKiln(['executor', '--no-push', '--context=s3://bucket/ctx.tar.gz']);
    assert.equal(s3.code, 2, s3.stderr);
    assert.match(s3.stderr, /s3:\/\/ is not supported/);

    // kaniko's -v is --verbosity: it must reach the executor, not print kiln's version.
    const verbose = await runKiln(['executor', '-v', 'debug', '--no-such-flag']);
    assert.equal(verbose.code, 2, verbose.stderr);
    assert.match(verbose.stderr, /unknown flag: --no-such-flag/);

    const noDest = await runKiln(['executor', '--context', context]);
    assert.equal(noDest.code, 2, noDest.stderr);
    assert.match(noDest.stderr, /--destination, or use --no-push/);
  });

  it('prints its flags with --help', async () => {
    const res = await runKiln(['executor', '--help']);
    assert.equal(res.code, 0, res.stderr);
    for (const flag of [
      '--destination',
      '--no-push',
      '--tar-path',
      '--cache-repo',
      '--reproducible',
    ]) {
      assert.ok(res.stdout.includes(flag), flag);
    }
  });
});

describe('kiln executor before it builds', () => {
  let registry: TestRegistry;
  let locked: TestRegistry;
  let work: string;
  let context: string;

  before(async () => {
    registry = await startRegistry();
    // Anyone may pull here and nobody may push: a destination kiln has no right to.
    locked = await startRegistry({
      auth: 'token',
      grant: (_user, _repo, actions) => actions.filter((a) => a === 'pull'),
    });
    const base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-executor-check-'));
    context = join(work, 'ctx');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), `FROM ${base}\nRUN echo made > /made.txt\n`);
  });
  after(async () => {
    await registry?.stop();
    await locked?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  function executor(destination: string, ...extra: string[]) {
    return runKiln(
      [
        'executor',
        '-c',
        context,
        '-d',
        destination,
        `--cache-dir=${join(work, 'cache')}`,
        '--log-format=json',
        ...extra,
      ],
      { env: { ...process.env, DOCKER_CONFIG: join(work, 'no-docker-config') } },
    );
  }

  const ran = (stderr: string) =>
    jsonEvents(stderr).some((e) => e.type === 'step' && String(e.name).includes('RUN echo'));

  it('checks it may push to every destination and fails at once when it may not', async () => {
    const destination = `${locked.host}/app/denied:v1`;
    const res = await executor(destination);
    assert.equal(res.code, 1, res.stderr);
    assert.ok(!ran(res.stderr), 'nothing was built');
    const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
    assert.match(String(error?.message), new RegExp(`${locked.host}/app/denied`));
    assert.match(String(error?.message), /push/);
  });

  it('skips the check with --skip-push-permission-check and fails only at the push', async () => {
    const res = await executor(`${locked.host}/app/denied:v1`, '--skip-push-permission-check');
    assert.equal(res.code, 1, res.stderr);
    assert.ok(ran(res.stderr), 'the build ran before the push failed');
  });

  it('warns with --no-push and no output, naming the flags of kaniko', async () => {
    const res = await runKiln([
      'executor',
      '-c',
      context,
      '--no-push',
      `--cache-dir=${join(work, 'cache')}`,
      '--log-format=json',
    ]);
    assert.equal(res.code, 0, res.stderr);
    const warning = jsonEvents(res.stderr).find(
      (e) => e.type === 'warning' && String(e.message).includes('no output'),
    );
    for (const flag of ['--destination', '--tar-path', '--oci-layout-path']) {
      assert.ok(String(warning?.message).includes(flag), res.stderr);
    }
    assert.doesNotMatch(String(warning?.message), /--push|-o\b/);
  });

  it('passes the check and pushes to a destination it may push to', async () => {
    const res = await executor(`${registry.host}/app/allowed:v1`);
    assert.equal(res.code, 0, res.stderr);
  });
});
