import {
  access,
  chmod,
  copyFile,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from './command.js';
import { withFileLock } from './file-lock.js';
import {
  blobPath,
  type Descriptor,
  hostPlatform,
  initLayout,
  type Layer,
  MEDIA_TYPES,
  type OwnedPath,
  type Platform,
  REF_NAME_ANNOTATION,
  sha256File,
  sha256Text,
  writeImage,
  writeIndexBlob,
  writeLayerBlob,
  writeLayoutIndex,
} from './oci-layout-writer.js';

// Base images for tests, made without kiln from this machine's busybox-static and node, and
// kept as OCI image layouts under .tmp/fixtures/ keyed by a hash of everything they are made
// from (the binaries, the libraries, the CA bundle and this code), so they are rebuilt only
// when an input changes.

export type FixtureName = 'busybox' | 'busybox-multi' | 'node';

export interface FixtureLayout {
  name: FixtureName;
  /** The OCI image layout directory. */
  dir: string;
  tag: string;
  /** `oci:DIR:TAG`, for skopeo. */
  ref: string;
  /** What the tag names: a manifest, or for busybox-multi an index. */
  descriptor: Descriptor;
}

export const FIXTURE_TAG = 'latest';
export const BUSYBOX_PATH = '/bin/busybox';
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const here = dirname(fileURLToPath(import.meta.url));
// This file runs as dist/test/support/images.js; the repository root is three levels up.
const repoRoot = resolve(here, '..', '..', '..');
export const FIXTURES_DIR = process.env.KILN_FIXTURES_DIR ?? join(repoRoot, '.tmp', 'fixtures');

const memo = new Map<FixtureName, Promise<FixtureLayout>>();

/** The layout of a fixture image, built on first use and cached across runs. */
export function fixtureLayout(name: FixtureName): Promise<FixtureLayout> {
  let layout = memo.get(name);
  if (!layout) {
    layout = BUILDERS[name]();
    memo.set(name, layout);
    layout.catch(() => memo.delete(name));
  }
  return layout;
}

/**
 * Copies a fixture to a registry (plain HTTP) and returns the reference it can be pulled by.
 * repoTag defaults to the fixture's name with tag latest; a repoTag without a tag gets latest.
 */
export async function pushFixture(
  name: FixtureName,
  registryHost: string,
  repoTag?: string,
): Promise<string> {
  const layout = await fixtureLayout(name);
  let target = repoTag ?? name;
  if (!/:[^/]+$/.test(target)) target = `${target}:${FIXTURE_TAG}`;
  const ref = `${registryHost}/${target}`;

  const all = layout.descriptor.mediaType === MEDIA_TYPES.index ? ['--all'] : [];
  const args = ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', ...all];
  await runCommand('skopeo', [...args, layout.ref, `docker://${ref}`], { timeoutMs: 120_000 });
  return ref;
}

const BUILDERS: Record<FixtureName, () => Promise<FixtureLayout>> = {
  busybox: buildBusybox,
  'busybox-multi': buildBusyboxMulti,
  node: buildNode,
};

async function buildBusybox(): Promise<FixtureLayout> {
  const busybox = await staticBusybox();
  const inputs = { busybox: await sha256File(busybox) };

  return cachedLayout('busybox', inputs, async (dir, stage) => {
    const layer = await busyboxLayer(dir, stage, {
      user: { name: 'app', uid: 1000, gid: 1000 },
    });
    const manifest = await writeImage(dir, {
      platform: hostPlatform(),
      layers: [layer],
      config: { Env: [`PATH=${IMAGE_PATH}`], Cmd: ['sh'] },
      createdBy: 'kiln test fixture: busybox-static with applet links',
    });
    return manifest;
  });
}

/** Same layer under two platforms: the host's and one that cannot run here. */
async function buildBusyboxMulti(): Promise<FixtureLayout> {
  const single = await fixtureLayout('busybox');
  const inputs = { busybox: single.descriptor.digest };

  return cachedLayout('busybox-multi', inputs, async (dir) => {
    const manifest = await readJson<{ layers: Descriptor[]; config: Descriptor }>(
      blobPath(single.dir, single.descriptor.digest),
    );
    const config = await readJson<{
      config: Record<string, unknown>;
      rootfs: { diff_ids: string[] };
    }>(blobPath(single.dir, manifest.config.digest));
    const diffIds = config.rootfs.diff_ids;
    const layers: Layer[] = [];
    for (const [i, descriptor] of manifest.layers.entries()) {
      await copyFile(blobPath(single.dir, descriptor.digest), blobPath(dir, descriptor.digest));
      layers.push({ descriptor, diffId: diffIds[i]! });
    }

    const manifests: Descriptor[] = [];
    for (const platform of [hostPlatform(), otherPlatform()]) {
      manifests.push(
        await writeImage(dir, {
          platform,
          layers,
          config: config.config,
          createdBy: `kiln test fixture: busybox for ${platform.architecture}`,
        }),
      );
    }
    return writeIndexBlob(dir, manifests);
  });
}

async function buildNode(): Promise<FixtureLayout> {
  const busybox = await staticBusybox();
  const npmDir = await findNpmDir();
  const libs = await sharedLibraries(process.execPath);
  const inputs = {
    node: await sha256File(process.execPath),
    npm: await sha256File(join(npmDir, 'package.json')),
    libs: await Promise.all(libs.map(async (l) => [l, await sha256File(l)])),
    ca: await sha256File(CA_BUNDLE),
    busybox: await sha256File(busybox),
  };

  return cachedLayout('node', inputs, async (dir, stage) => {
    const base = await busyboxLayer(dir, join(stage, 'base'), {
      user: { name: 'node', uid: 1000, gid: 1000 },
    });

    const root = join(stage, 'node');
    await makeDirs(root, ['usr/local/bin', 'usr/local/lib/node_modules', 'etc/ssl/certs']);
    await copyFile(process.execPath, join(root, 'usr/local/bin/node'));
    await chmod(join(root, 'usr/local/bin/node'), 0o755);
    await runCommand('cp', ['-a', npmDir, join(root, 'usr/local/lib/node_modules/npm')]);
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));
    for (const lib of libs) {
      // The loader and libraries go to the paths ldd reports, as real files, because the
      // binary and the loader's search path name exactly those paths.
      await mkdir(join(root, dirname(lib)), { recursive: true });
      await copyFile(await realpath(lib), join(root, lib));
      await chmod(join(root, lib), 0o755);
    }
    await copyFile(CA_BUNDLE, join(root, CA_BUNDLE));
    await chmod(join(root, CA_BUNDLE), 0o644);
    const nodeLayer = await writeLayerBlob(dir, root);

    return writeImage(dir, {
      platform: hostPlatform(),
      layers: [base, nodeLayer],
      config: {
        Env: [
          `PATH=${IMAGE_PATH}`,
          `NODE_VERSION=${process.versions.node}`,
          // Node reads no system CA store; RUN steps that reach a registry through a TLS proxy
          // need this bundle, which is this machine's, proxy CA included.
          `NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`,
        ],
        Cmd: ['node'],
      },
      createdBy: `kiln test fixture: node ${process.version} with npm and busybox sh`,
    });
  });
}

interface BaseUser {
  name: string;
  uid: number;
  gid: number;
}

/** A rootfs of busybox, one symlink per applet, passwd/group with root, nobody and user. */
async function busyboxLayer(dir: string, stage: string, opts: { user: BaseUser }): Promise<Layer> {
  const busybox = await staticBusybox();
  const { user } = opts;
  await makeDirs(stage, ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', `home/${user.name}`]);
  await mkdir(join(stage, 'tmp'));
  await chmod(join(stage, 'tmp'), 0o1777);
  await mkdir(join(stage, 'root'));
  await chmod(join(stage, 'root'), 0o700);

  await copyFile(busybox, join(stage, 'bin/busybox'));
  await chmod(join(stage, 'bin/busybox'), 0o755);
  const { stdout } = await runCommand(busybox, ['--list-full']);
  for (const applet of stdout.split('\n').filter(Boolean)) {
    // linuxrc is an init for initramfs images, not a command anyone runs in a container.
    if (applet === 'bin/busybox' || applet === 'linuxrc') continue;
    await mkdir(join(stage, dirname(applet)), { recursive: true });
    await symlink('/bin/busybox', join(stage, applet));
  }

  const home = `/home/${user.name}`;
  const passwd = [
    'root:x:0:0:root:/root:/bin/sh',
    `${user.name}:x:${user.uid}:${user.gid}:${user.name}:${home}:/bin/sh`,
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  ];
  const group = ['root:x:0:', `${user.name}:x:${user.gid}:`, 'nogroup:x:65534:'];
  await writeEtc(stage, 'passwd', passwd);
  await writeEtc(stage, 'group', group);
  await writeEtc(stage, 'nsswitch.conf', ['passwd: files', 'group: files', 'hosts: files dns']);

  const owned: OwnedPath = { path: home.slice(1), uid: user.uid, gid: user.gid };
  return writeLayerBlob(dir, stage, [owned]);
}

async function writeEtc(root: string, name: string, lines: string[]): Promise<void> {
  const path = join(root, 'etc', name);
  await writeFile(path, `${lines.join('\n')}\n`);
  await chmod(path, 0o644);
}

async function makeDirs(root: string, dirs: readonly string[]): Promise<void> {
  for (const d of dirs) {
    let path = root;
    for (const part of d.split('/')) {
      path = join(path, part);
      await mkdir(path, { recursive: true });
      // umask must not decide the modes that end up in the layer.
      await chmod(path, 0o755);
    }
  }
}

/**
 * Builds a fixture once per input hash. Writers race on a lock; the layout is written to a
 * scratch directory, checked with skopeo, and renamed into place, so a directory under its
 * final name is always complete. Layouts of the same fixture with other keys are removed.
 */
async function cachedLayout(
  name: FixtureName,
  inputs: unknown,
  build: (dir: string, stage: string) => Promise<Descriptor>,
): Promise<FixtureLayout> {
  const code = await Promise.all(
    ['images.js', 'oci-layout-writer.js'].map((f) => readFile(join(here, f))),
  );
  const key = sha256Text(
    JSON.stringify({ name, platform: hostPlatform(), inputs, code: code.map(sha256Text) }),
  ).slice('sha256:'.length, 'sha256:'.length + 16);
  const dir = join(FIXTURES_DIR, `${name}-${key}`);
  if (await exists(join(dir, 'index.json'))) return describe(name, dir);

  await mkdir(FIXTURES_DIR, { recursive: true });
  return withFileLock(`${dir}.lock`, async () => {
    if (await exists(join(dir, 'index.json'))) return describe(name, dir);

    const scratch = `${dir}.build-${process.pid}`;
    const stage = `${dir}.stage-${process.pid}`;
    await rm(scratch, { recursive: true, force: true });
    await rm(stage, { recursive: true, force: true });
    try {
      await initLayout(scratch);
      const descriptor = await build(scratch, stage);
      await writeLayoutIndex(scratch, descriptor, FIXTURE_TAG);
      await runCommand('skopeo', ['inspect', '--raw', `oci:${scratch}:${FIXTURE_TAG}`]);
      await rename(scratch, dir).catch((err: NodeJS.ErrnoException) => {
        // Another process got here first (a lock broken as stale); its layout is as good.
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } finally {
      await rm(stage, { recursive: true, force: true });
      await rm(scratch, { recursive: true, force: true });
    }

    await removeStale(name, dir);
    return describe(name, dir);
  });
}

async function removeStale(name: FixtureName, keep: string): Promise<void> {
  const pattern = new RegExp(`^${name}-[0-9a-f]{16}$`);
  for (const entry of await readdir(FIXTURES_DIR)) {
    const path = join(FIXTURES_DIR, entry);
    if (pattern.test(entry) && path !== keep) await rm(path, { recursive: true, force: true });
  }
}

async function describe(name: FixtureName, dir: string): Promise<FixtureLayout> {
  const index = await readJson<{ manifests: Array<Descriptor> }>(join(dir, 'index.json'));
  const entry = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === FIXTURE_TAG);
  if (!entry) throw new Error(`fixture layout ${dir} has no tag ${FIXTURE_TAG}`);
  const { annotations: _annotations, ...descriptor } = entry;
  return { name, dir, tag: FIXTURE_TAG, ref: `oci:${dir}:${FIXTURE_TAG}`, descriptor };
}

/** busybox-static, checked to be static: the images have no libc for a dynamic one. */
async function staticBusybox(): Promise<string> {
  if (!(await exists(BUSYBOX_PATH))) {
    throw new Error(`${BUSYBOX_PATH} is missing; run scripts/install-deps.sh (busybox-static)`);
  }
  const ldd = await runCommand('ldd', [BUSYBOX_PATH], { check: false });
  if (ldd.code === 0 && !/not a dynamic executable|statically linked/.test(ldd.stdout)) {
    throw new Error(`${BUSYBOX_PATH} is dynamically linked; install busybox-static instead`);
  }
  return BUSYBOX_PATH;
}

/** The npm package that belongs to this node: <prefix>/lib/node_modules/npm, else npm root -g. */
async function findNpmDir(): Promise<string> {
  const prefix = resolve(dirname(await realpath(process.execPath)), '..');
  const beside = join(prefix, 'lib', 'node_modules', 'npm');
  if (await exists(join(beside, 'package.json'))) return beside;

  const { stdout } = await runCommand('npm', ['root', '-g']);
  const global = join(stdout.trim(), 'npm');
  if (await exists(join(global, 'package.json'))) return global;
  throw new Error(`cannot find the npm package of ${process.execPath}`);
}

/** Absolute paths of the loader and every shared library a binary loads, as ldd prints them. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await runCommand('ldd', [binary]);
  const paths = new Set<string>();
  for (const line of stdout.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (match) paths.add(match[1]!);
  }
  return [...paths].sort();
}

function otherPlatform(): Platform {
  const host = hostPlatform();
  return { os: 'linux', architecture: host.architecture === 's390x' ? 'ppc64le' : 's390x' };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}
