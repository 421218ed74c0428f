import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExecutorArgs } from './executor-args.js';
import { dockerConfigDefault, type ExecutorHost, toExecutorPlan } from './executor-options.js';

function host(files: string[], env: NodeJS.ProcessEnv = {}): ExecutorHost {
  return { cwd: '/job', env: { HOME: '/home/u', ...env }, exists: (p) => files.includes(p) };
}

const withContextDockerfile = host(['/workspace/Dockerfile', '/src/Dockerfile']);

function plan(argv: string[], h: ExecutorHost = withContextDockerfile) {
  return toExecutorPlan(parseExecutorArgs(argv), h);
}

describe('toExecutorPlan', () => {
  it("uses kaniko's defaults: /workspace, its Dockerfile, push to every destination", () => {
    const p = plan(['-d', '127.0.0.1:5000/app:v1', '-d', '127.0.0.1:5000/app:latest']);
    assert.equal(p.request.contextDir, '/workspace');
    assert.equal(p.request.dockerfilePath, '/workspace/Dockerfile');
    assert.deepEqual(p.request.outputs, [
      { type: 'image', names: ['127.0.0.1:5000/app:v1', '127.0.0.1:5000/app:latest'], push: true },
    ]);
    assert.equal(p.request.noCache, true, 'kaniko runs every step unless --cache');
    assert.equal(p.progress, 'auto');
    assert.deepEqual(p.warnings, []);
  });

  it('reads dir:// contexts and finds the Dockerfile as given before looking in the context', () => {
    const h = host(['/src/docker/Dockerfile', '/job/docker/Dockerfile']);
    const p = plan(['--context=dir:///src', '-f', 'docker/Dockerfile', '--no-push'], h);
    assert.equal(p.request.contextDir, '/src');
    assert.equal(p.request.dockerfilePath, '/job/docker/Dockerfile');
    const q = plan(
      ['--context=dir:///src', '-f', 'docker/Dockerfile', '--no-push'],
      host(['/src/docker/Dockerfile']),
    );
    assert.equal(q.request.dockerfilePath, '/src/docker/Dockerfile');
  });

  it('refuses contexts from other schemes with exit code 2', () => {
    for (const ctx of [
      's3://bucket/ctx.tar.gz',
      'gs://b/c',
      'git://github.com/a/b',
      'tar://c.tgz',
    ]) {
      assert.throws(
        () => plan(['--context', ctx, '--no-push']),
        (err: Error & { exitCode?: number }) =>
          err.exitCode === 2 && /not supported/.test(err.message),
      );
    }
  });

  it('needs a destination unless --no-push, as kaniko does', () => {
    assert.throws(() => plan([]), /--destination, or use --no-push/);
    assert.throws(
      () => plan(['--no-push', '--image-name-with-digest-file=/x']),
      /needs at least one --destination/,
    );
  });

  it('maps --tar-path and --oci-layout-path onto docker and OCI layout outputs', () => {
    const p = plan([
      '--no-push',
      '-d',
      'reg.example/app:1',
      '--tar-path',
      'out/image.tar',
      '--oci-layout-path=/l',
    ]);
    assert.deepEqual(p.request.outputs, [
      { type: 'docker', dest: '/job/out/image.tar', names: ['reg.example/app:1'] },
      { type: 'oci', dest: '/l', tar: false, names: ['reg.example/app:1'] },
    ]);
  });

  it('maps --cache to registry cache import and export, inferring DESTINATION/cache', () => {
    const p = plan(['--cache', '-d', 'reg.example/team/app:1']);
    const spec = { type: 'registry', ref: 'reg.example/team/app/cache', mode: 'max' };
    assert.deepEqual(p.request.cacheFrom, [spec]);
    assert.deepEqual(p.request.cacheTo, [spec]);
    assert.equal(p.request.noCache, false);
    const noPushCache = plan(['--cache', '--cache-repo=oci:/c', '--no-push', '--no-push-cache']);
    assert.deepEqual(noPushCache.request.cacheFrom, [{ type: 'local', dir: '/c', mode: 'max' }]);
    assert.deepEqual(noPushCache.request.cacheTo, []);
    assert.throws(() => plan(['--cache', '--no-push']), /--cache-repo/);
  });

  it('maps --reproducible onto rewriteTimestamp with SOURCE_DATE_EPOCH 0 by default', () => {
    const p = plan(['--no-push', '--reproducible']);
    assert.equal(p.request.rewriteTimestamp, true);
    assert.equal(p.sourceDateEpoch, '0');
    assert.equal(p.request.buildArgs.has('SOURCE_DATE_EPOCH'), false, 'no unconsumed build arg');
    const pinned = plan(['--no-push', '--reproducible', '--build-arg=SOURCE_DATE_EPOCH=7']);
    assert.equal(pinned.sourceDateEpoch, undefined, 'the build arg wins');
  });

  it('maps --compression and --compression-level onto every image output', () => {
    const p = plan([
      '-d',
      'reg.example/a',
      '--tar-path=/t',
      '--compression=zstd',
      '--compression-level',
      '3',
    ]);
    const compression = { compression: 'zstd', level: 3, force: false };
    for (const output of p.request.outputs) {
      assert.deepEqual('compression' in output && output.compression, compression);
    }
    const levelOnly = plan(['--no-push', '--oci-layout-path=/l', '--compression-level=9']);
    assert.deepEqual(levelOnly.request.outputs[0], {
      type: 'oci',
      dest: '/l',
      tar: false,
      names: [],
      compression: { compression: 'gzip', level: 9, force: false },
    });
    assert.throws(() => plan(['--no-push', '--compression=lz4']), /unknown algorithm/);
  });

  it('applies --insecure and --skip-tls-verify to the destination registries', () => {
    const p = plan(['--insecure', '-d', 'reg.example:5000/app', '--insecure-registry', 'other:1']);
    assert.deepEqual(p.request.insecureRegistries, ['other:1', 'reg.example:5000']);
  });

  it('maps build args, labels, target, platform, cache dir and mirrors', () => {
    const h = host(['/workspace/Dockerfile'], {
      FROM_ENV: 'yes',
      KANIKO_REGISTRY_MIRROR: 'env-mirror',
    });
    const p = plan(
      [
        '--no-push',
        '--build-arg=A=1',
        '--build-arg',
        'FROM_ENV',
        '--label',
        'k=v',
        '--target=app',
        '--custom-platform=linux/amd64',
        '--cache-dir=cache',
        '--registry-mirror=m1',
        '--registry-map=index.docker.io=m2',
      ],
      h,
    );
    assert.deepEqual(
      [...p.request.buildArgs],
      [
        ['A', '1'],
        ['FROM_ENV', 'yes'],
      ],
    );
    assert.deepEqual([...p.request.labels], [['k', 'v']]);
    assert.equal(p.request.target, 'app');
    assert.equal(p.request.platform, 'linux/amd64');
    assert.equal(p.request.cacheDir, '/job/cache');
    assert.deepEqual(p.request.registryMirrors, ['m1', 'env-mirror', 'm2']);
  });

  it('warns once for each given flag kiln does not act on, and for deprecated spellings', () => {
    const p = plan(['--no-push', '--single-snapshot', '--cleanup', '--snapshotMode=redo']);
    const messages = p.warnings.map((w) => w.message);
    assert.equal(messages.length, 4);
    assert.match(messages[0] as string, /--single-snapshot is accepted but has no effect/);
    assert.match(messages[1] as string, /--cleanup/);
    assert.match(messages[2] as string, /--snapshotMode is deprecated, use --snapshot-mode/);
    assert.match(messages[3] as string, /--snapshotMode is accepted but has no effect/);
  });

  it('picks the progress format from --log-format and --verbosity', () => {
    assert.equal(plan(['--no-push', '--log-format=json']).progress, 'json');
    assert.equal(plan(['--no-push', '--log-format=text']).progress, 'plain');
    assert.equal(plan(['--no-push', '-v', 'error']).progress, 'quiet');
    assert.throws(() => plan(['--no-push', '--log-format=xml']), /unknown format/);
  });
});

describe('dockerConfigDefault', () => {
  it('points DOCKER_CONFIG at /kaniko/.docker when it exists and nothing else is set', () => {
    const args = parseExecutorArgs([]);
    assert.equal(dockerConfigDefault(args, host(['/kaniko/.docker'])), '/kaniko/.docker');
    assert.equal(dockerConfigDefault(args, host([])), undefined);
    assert.equal(
      dockerConfigDefault(args, host(['/kaniko/.docker'], { DOCKER_CONFIG: '/mine' })),
      undefined,
    );
    const custom = parseExecutorArgs(['--kaniko-dir=/k']);
    assert.equal(dockerConfigDefault(custom, host(['/k/.docker'])), '/k/.docker');
  });
});
