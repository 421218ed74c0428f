import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommand } from './support/command.js';
import { CA_BUNDLE, fixtureLayout, IMAGE_PATH, pushFixture } from './support/images.js';
import { hostPlatform, MEDIA_TYPES, sha256File } from './support/oci-layout-writer.js';
import { readMergedRootfs, runcRun, skopeoInspect, umociUnpack } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const slow = { timeout: 180_000 };

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kiln-fixtures-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const shared = new Map<string, Promise<string>>();

/** One bundle per image for tests that only run commands as the image's default user. */
function sharedBundle(name: 'busybox' | 'node'): Promise<string> {
  let bundle = shared.get(name);
  if (!bundle) {
    bundle = unpack(name);
    shared.set(name, bundle);
  }
  return bundle;
}

async function unpack(name: 'busybox' | 'node'): Promise<string> {
  const layout = await fixtureLayout(name);
  const bundle = join(scratch, `${name}-${Math.random().toString(36).slice(2)}`);
  await umociUnpack(layout.dir, layout.tag, bundle);
  return bundle;
}

describe('the busybox fixture', () => {
  test('is a single-platform OCI manifest that skopeo reads', slow, async () => {
    const layout = await fixtureLayout('busybox');
    assert.equal(layout.descriptor.mediaType, MEDIA_TYPES.manifest);

    const info = await skopeoInspect(layout.ref);
    assert.equal(info.Architecture, hostPlatform().architecture);
    assert.equal(info.Os, 'linux');
    assert.equal(info.Digest, layout.descriptor.digest);
    const config = (await skopeoInspect(layout.ref, { config: true })) as {
      config: { Env: string[]; Cmd: string[] };
    };
    assert.deepEqual(config.config.Env, [`PATH=${IMAGE_PATH}`]);
    assert.deepEqual(config.config.Cmd, ['sh']);
  });

  test('runs busybox echo under runc after umoci unpack', slow, async () => {
    const bundle = await sharedBundle('busybox');
    const result = await runcRun(bundle, ['busybox', 'echo', 'hi']);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'hi\n');
  });

  test('runs the shell from Cmd with the image PATH and a user app', slow, async () => {
    const bundle = await sharedBundle('busybox');
    const script = 'echo "$PATH"; id app; ls /usr/bin/env; exit 3';
    const result = await runcRun(bundle, ['sh', '-c', script]);
    assert.equal(result.code, 3);
    assert.equal(
      result.stdout,
      `${IMAGE_PATH}\nuid=1000(app) gid=1000(app) groups=1000(app)\n/usr/bin/env\n`,
    );
  });

  test('has one applet link per busybox applet, /tmp 1777 and an app home', slow, async () => {
    const layout = await fixtureLayout('busybox');
    const files = await readMergedRootfs(layout.dir, layout.tag);
    const { stdout } = await runCommand('/bin/busybox', ['--list-full']);
    const applets = stdout.split('\n').filter((a) => a && a !== 'bin/busybox' && a !== 'linuxrc');

    for (const applet of applets) {
      assert.deepEqual(files.get(`/${applet}`)?.link, '/bin/busybox', applet);
    }
    assert.equal(files.get('/bin/busybox')?.sha256, await sha256File('/bin/busybox'));
    assert.equal(files.get('/tmp')?.mode, 0o1777);
    assert.equal(files.get('/root')?.mode, 0o700);
    assert.deepEqual(
      [files.get('/home/app')?.uid, files.get('/home/app')?.gid, files.get('/home/app')?.type],
      [1000, 1000, 'dir'],
    );
    assert.equal(files.get('/etc/passwd')?.mode, 0o644);
  });
});

describe('the busybox-multi fixture', () => {
  test('is an index of the host platform and a second platform', slow, async () => {
    const layout = await fixtureLayout('busybox-multi');
    assert.equal(layout.descriptor.mediaType, MEDIA_TYPES.index);

    const index = (await skopeoInspect(layout.ref, { raw: true })) as {
      manifests: Array<{ mediaType: string; platform: { architecture: string } }>;
    };
    const arches = index.manifests.map((m) => m.platform.architecture);
    assert.equal(arches.length, 2);
    assert.equal(arches[0], hostPlatform().architecture);
    assert.notEqual(arches[1], arches[0]);
    assert.ok(index.manifests.every((m) => m.mediaType === MEDIA_TYPES.manifest));

    const info = await skopeoInspect(layout.ref);
    assert.equal(info.Architecture, hostPlatform().architecture);
  });
});

describe('the node fixture', () => {
  test('runs node -e under runc', slow, async () => {
    const bundle = await sharedBundle('node');
    const result = await runcRun(bundle, ['node', '-e', 'console.log(1+1)']);
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, '2\n');
    assert.equal(result.code, 0);
  });

  test('runs npm --version and prints the version of the npm it was made from', slow, async () => {
    const npmVersion = (await runCommand('npm', ['--version'])).stdout.trim();
    const bundle = await sharedBundle('node');
    const result = await runcRun(bundle, ['npm', '--version']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), npmVersion);
  });

  test(
    'runs shell-form commands as the node user with the CA bundle configured',
    slow,
    async () => {
      const bundle = await unpack('node');
      const script = [
        'mkdir -p /tmp/w && cd /tmp/w && npm init -y >/dev/null && cat package.json | wc -l',
        "node -p \"require('os').userInfo().username + ' ' + process.env.NODE_EXTRA_CA_CERTS\"",
      ].join(' && ');
      const result = await runcRun(bundle, ['sh', '-c', script], {
        user: { uid: 1000, gid: 1000 },
      });
      assert.equal(result.code, 0, result.stderr);
      const [lines, who] = result.stdout.trim().split('\n');
      assert.ok(Number(lines) > 3, `package.json has ${lines} lines`);
      assert.equal(who, `node ${CA_BUNDLE}`);
    },
  );

  test(
    'holds this machine CA bundle and names no registry or proxy in its config',
    slow,
    async () => {
      const layout = await fixtureLayout('node');
      const files = await readMergedRootfs(layout.dir, layout.tag);
      assert.equal(files.get(CA_BUNDLE)?.sha256, await sha256File(CA_BUNDLE));
      assert.equal(files.get('/usr/local/bin/npm')?.link, '../lib/node_modules/npm/bin/npm-cli.js');
      assert.equal(files.get('/home/node')?.uid, 1000);

      const config = (await skopeoInspect(layout.ref, { config: true })) as {
        config: { Env: string[] };
      };
      const names = config.config.Env.map((e) => e.split('=')[0]);
      assert.deepEqual(names, ['PATH', 'NODE_VERSION', 'NODE_EXTRA_CA_CERTS']);
    },
  );
});

describe('pushing fixtures', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
  });

  test('pushes busybox and node and reads them back with their digests', slow, async () => {
    for (const name of ['busybox', 'node'] as const) {
      const layout = await fixtureLayout(name);
      const ref = await pushFixture(name, registry.host);
      assert.equal(ref, `${registry.host}/${name}:latest`);
      const info = await skopeoInspect(`docker://${ref}`);
      assert.equal(info.Digest, layout.descriptor.digest);
    }
  });

  test('pushes the multi-platform index whole under a chosen name', slow, async () => {
    const layout = await fixtureLayout('busybox-multi');
    const ref = await pushFixture('busybox-multi', registry.host, 'lib/busybox:multi');
    assert.equal(ref, `${registry.host}/lib/busybox:multi`);

    const index = (await skopeoInspect(`docker://${ref}`, { raw: true })) as {
      mediaType: string;
      manifests: unknown[];
    };
    assert.equal(index.mediaType, MEDIA_TYPES.index);
    assert.equal(index.manifests.length, 2);
    const info = await skopeoInspect(`docker://${ref}`);
    assert.equal(info.Architecture, hostPlatform().architecture);
    // skopeo inspect reports the digest of what the tag names, here the index.
    assert.equal(info.Digest, layout.descriptor.digest);
  });
});
