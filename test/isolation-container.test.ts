/**
 * kiln in a restricted container, as many Kubernetes pods are: a runc container running as root
 * with Docker's default capability set (no CAP_SYS_ADMIN), no_new_privs, and a seccomp profile
 * that refuses unshare(2) and clone(2) with CLONE_NEWUSER. There kiln can make no namespace at
 * all; with --isolation=none it still builds (chroot plus the walking differ) and pushes to the
 * host's registry over loopback (the container shares the host's network namespace). The host's
 * /usr (node, its libraries, util-linux, coreutils) and this checkout are bind-mounted read-only.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setAttribute } from 'fs-xattr';
import {
  describeImageLayers,
  type LayerEntryFacts,
  layerDifferences,
  writeContext,
} from './isolation-support.js';
import { mergeHeaders } from './support/case-image.js';
import { type CommandResult, runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln } from './support/kiln.js';
import { skopeoInspect } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The checkout (dist/test/.. /..), mounted at the same path inside the container. */
const REPO = resolve(here, '..', '..');
const KILN = join(REPO, 'dist', 'src', 'cli', 'main.js');

/** Docker's default capability set (moby's oci/caps defaults). */
const DOCKER_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];
const CAP_SYS_ADMIN_BIT = 21n;
const CLONE_NEWUSER = 0x10000000;
const EPERM = 1;
const ENOSYS = 38;

const DOCKERFILE = (base: string) => `FROM ${base} AS tools
RUN mkdir -p /out && echo tool > /out/tool && ln -s tool /out/tool-link

FROM ${base}
WORKDIR /app
COPY greeting.txt ./
COPY --from=tools /out/ /opt/tools/
RUN echo 'crew:x:4343:' >> /etc/group \\
 && echo 'deck:x:4242:4343:deck:/home/deck:/bin/sh' >> /etc/passwd \\
 && mkdir -p /home/deck /owned /usr/local/bin && chown 4242:4343 /home/deck \\
 && touch /owned/root /owned/app /owned/nobody && chown 1000:1000 /owned/app \\
 && chown 65534:65534 /owned/nobody && rm /bin/ls && rm -r /home/app \\
 && cp /bin/busybox /usr/local/bin/sbb && chmod 4755 /usr/local/bin/sbb \\
 && mkdir /shared /scratch && chown 0:2000 /shared && chmod 2777 /shared && chmod 1777 /scratch \\
 && echo made > /app/made.txt && ln /app/made.txt /app/hard.txt && echo x > /dev/null
COPY --chown=4242:4343 greeting.txt /home/deck/
USER deck
RUN touch /scratch/by-deck /shared/by-deck && mkdir /home/deck/work
WORKDIR /home/deck/work/sub
`;

interface Box {
  bundle: string;
  rootfs: string;
  /** Host side of /build, the container's only writable directory besides /tmp. */
  build: string;
}

function seccomp(): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_AARCH64'],
    syscalls: [
      // Docker's default profile allows unshare(2) only with CAP_SYS_ADMIN.
      { names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      {
        names: ['clone'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: EPERM,
        args: [
          { index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' },
        ],
      },
      // clone3's flags are behind a pointer seccomp cannot read: ENOSYS makes libc use clone.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}

function bind(destination: string, source: string, mode: 'ro' | 'rw') {
  return { destination, source, type: 'bind', options: ['rbind', mode, 'nosuid'] };
}

async function makeBox(work: string): Promise<Box> {
  const bundle = join(work, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  const build = join(work, 'build');
  for (const d of ['usr', 'etc', 'proc', 'dev', 'tmp', 'build', REPO.slice(1)]) {
    await mkdir(join(rootfs, d), { recursive: true });
  }
  for (const l of ['bin', 'sbin', 'lib', 'lib64']) await symlink(`usr/${l}`, join(rootfs, l));
  await mkdir(build, { recursive: true });
  await chmod(build, 0o755);

  const config = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['true'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/build'],
      cwd: '/build',
      capabilities: Object.fromEntries(
        ['bounding', 'effective', 'permitted'].map((set) => [set, DOCKER_CAPS]),
      ),
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'kilnbox',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=1777'] },
      bind('/usr', '/usr', 'ro'),
      bind('/etc', '/etc', 'ro'),
      bind(REPO, REPO, 'ro'),
      bind('/build', build, 'rw'),
    ],
    linux: {
      // No network namespace (the host's loopback registry stays reachable), no user namespace.
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      cgroupsPath: `/kiln-box-${process.pid}`,
      seccomp: seccomp(),
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  return { bundle, rootfs, build };
}

/** Runs argv in a fresh container of the box (same bundle, a new id and state dir). */
async function inBox(box: Box, argv: string[], env: string[] = []): Promise<CommandResult> {
  const configPath = join(box.bundle, 'config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8'));
  config.process.args = argv;
  config.process.env = [...config.process.env.slice(0, 2), ...env];
  await writeFile(configPath, JSON.stringify(config, null, 2));

  const id = `kilnbox-${process.pid}-${randomBytes(3).toString('hex')}`;
  const state = await mkdtemp(join(tmpdir(), 'kiln-box-state-'));
  try {
    return await runCommand('runc', ['--root', state, 'run', '--bundle', box.bundle, id], {
      check: false,
      timeoutMs: 300_000,
    });
  } finally {
    await runCommand('runc', ['--root', state, 'delete', '--force', id], { check: false });
    await rm(state, { recursive: true, force: true });
  }
}

function kilnArgs(isolation: string, extra: string[]): string[] {
  return [
    process.execPath,
    KILN,
    'build',
    `--isolation=${isolation}`,
    '--progress=json',
    '--cache-dir',
    '/build/cache',
    ...extra,
    '/build/ctx',
  ];
}

describe('kiln in a container without CAP_SYS_ADMIN or user namespaces', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  let box: Box;
  let started: number;

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-restricted-'));
    await chmod(work, 0o755);
    box = await makeBox(work);
    const ctx = await writeContext(box.build, 'ctx', DOCKERFILE(base), { 'greeting.txt': 'hi\n' });
    await setAttribute(join(ctx, 'greeting.txt'), 'user.kiln.note', Buffer.from('kept'));
    started = Math.floor(Date.now() / 1000);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('has neither CAP_SYS_ADMIN nor a way to make a user or mount namespace', async () => {
    const status = await inBox(box, ['grep', '^CapEff:', '/proc/self/status']);
    assert.equal(status.code, 0, status.stderr);
    const capEff = BigInt(`0x${status.stdout.split(/\s+/)[1]}`);
    assert.equal((capEff >> CAP_SYS_ADMIN_BIT) & 1n, 0n, 'no CAP_SYS_ADMIN');
    assert.notEqual(capEff & (1n << 18n), 0n, 'CAP_SYS_CHROOT is there');

    for (const args of [['--user', '--map-root-user'], ['--mount']]) {
      const res = await inBox(box, ['/usr/bin/unshare', ...args, '/bin/true']);
      assert.notEqual(res.code, 0, `unshare ${args.join(' ')} must fail`);
    }
  });

  it('finds no isolation for --isolation=auto and says what to do', async () => {
    const res = await inBox(box, kilnArgs('auto', []));
    assert.equal(res.code, 1, res.stderr);
    const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
    assert.equal(error?.code, 'SANDBOX_UNAVAILABLE', res.stderr);
    assert.match(String(error?.hint), /--isolation none/);
  });

  it('refuses --isolation=none when nothing says this is a container', async () => {
    const res = await inBox(box, kilnArgs('none', []));
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /SANDBOX_NONE_REFUSED/);
  });

  it('builds and pushes with --isolation=none, the same layers as chroot mode on the host', async () => {
    // What Docker leaves in every container it starts.
    await writeFile(join(box.rootfs, '.dockerenv'), '');
    const ref = `${registry.host}/restricted/none:v1`;
    const res = await inBox(
      box,
      kilnArgs('none', ['-o', 'type=oci,dest=/build/layout,tar=false', '-t', ref, '--push']),
    );
    assert.equal(res.code, 0, res.stderr);
    const result = jsonEvents(res.stderr).find((e) => e.type === 'result');
    assert.ok(result, res.stderr);
    const remote = await skopeoInspect(`docker://${ref}`);
    assert.equal(remote.Digest, result.digest, 'the pushed manifest is the one reported');

    const layout = join(work, 'chroot-layout');
    const host = await runKiln([
      'build',
      '--isolation=chroot',
      '--progress=plain',
      '--cache-dir',
      join(work, 'chroot-cache'),
      '-o',
      `type=oci,dest=${layout},tar=false`,
      join(box.build, 'ctx'),
    ]);
    assert.equal(host.code, 0, host.stderr);

    const none: LayerEntryFacts[][] = await describeImageLayers(join(box.build, 'layout'), 'v1', 1);
    const chroot = await describeImageLayers(layout, 'latest', 1);
    assert.equal(none.length, 7, 'two WORKDIRs, two COPYs, a COPY --from, two RUNs');
    assert.deepEqual(layerDifferences(none, chroot, started), []);

    const merged = mergeHeaders(none);
    const owner = (p: string) => {
      const e = merged.get(p);
      return e && [e.uid, e.gid, e.mode];
    };
    assert.deepEqual(owner('/usr/local/bin/sbb'), [0, 0, 0o4755]);
    assert.deepEqual(owner('/shared/by-deck'), [4242, 2000, 0o644]);
    assert.deepEqual(owner('/owned/nobody'), [65534, 65534, 0o644]);
    assert.deepEqual(owner('/home/deck/work/sub'), [4242, 4343, 0o755]);
    assert.ok(!merged.has('/dev/null'), 'the stub device stays out of the layers');
    const greeting = none.flat().find((e) => e.path === '/app/greeting.txt');
    assert.equal(greeting?.xattrs?.['user.kiln.note'], 'a2VwdA==', 'COPY kept the xattr');
  });

  it('lets kiln executor fall back to building without namespaces here, as kaniko does', async () => {
    await writeFile(join(box.rootfs, '.dockerenv'), '');
    const res = await inBox(box, [
      process.execPath,
      KILN,
      'executor',
      '--context=dir:///build/ctx',
      '--no-push',
      '--oci-layout-path=/build/exec-layout',
      '--cache-dir=/build/exec-cache',
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /without them .* as kaniko does/);
    const index = JSON.parse(await readFile(join(box.build, 'exec-layout', 'index.json'), 'utf8'));
    assert.equal(index.manifests.length, 1);
  });
});
