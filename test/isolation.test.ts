/**
 * --isolation=chroot (real root, a private mount namespace, no user namespace) against
 * --isolation=userns (root in an identity-mapped user namespace): the same Dockerfile must give
 * the same layers, compared entry by entry as GNU tar reads them.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setAttribute } from 'fs-xattr';
import {
  describeImageLayers,
  type LayerEntryFacts,
  layerDifferences,
  writeContext,
} from './isolation-support.js';
import { runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { runKiln, runKilnAs } from './support/kiln.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { ensureTestUser } from './support/users.js';

/** The initial user namespace's inode number, fixed by the kernel (PROC_USER_INIT_INO). */
const INITIAL_USERNS = 'user:[4026531837]';

const DOCKERFILE = (base: string) => `FROM ${base} AS tools
RUN mkdir -p /out && echo tool > /out/tool && ln -s tool /out/tool-link && chmod 750 /out/tool

FROM ${base}
RUN readlink /proc/self/ns/user
WORKDIR /app/sub
COPY greeting.txt tagged.bin ./
COPY --from=tools /out/ /opt/tools/
RUN echo made > made.txt && ln made.txt hard.txt && ln -s ../made.txt /app/rel-link \\
 && rm /bin/ls && rm -r /home && mkdir -p /data/a/b && chown -R 1000:1000 /data \\
 && chmod 4755 /app/sub/made.txt && mkfifo /app/fifo
RUN --network=none sh -c 'echo offline > /app/offline.txt'
USER 1000
RUN echo user > /data/a/mine.txt
WORKDIR /data/new
`;

describe('--isolation=chroot', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  let ctx: string;
  let started: number;
  const layers = new Map<string, LayerEntryFacts[][]>();
  const logs = new Map<string, string>();

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-isolation-'));
    await chmod(work, 0o755);
    ctx = await writeContext(work, 'ctx', DOCKERFILE(base), {
      'greeting.txt': 'hello\n',
      'tagged.bin': 'with xattrs\n',
    });
    await setAttribute(join(ctx, 'tagged.bin'), 'user.kiln.note', Buffer.from('kept'));
    started = Math.floor(Date.now() / 1000);

    for (const isolation of ['chroot', 'userns']) {
      const layout = join(work, `layout-${isolation}`);
      const res = await runKiln([
        'build',
        `--isolation=${isolation}`,
        '--progress=plain',
        '--cache-dir',
        join(work, `cache-${isolation}`),
        '-o',
        `type=oci,dest=${layout},tar=false`,
        ctx,
      ]);
      assert.equal(res.code, 0, `${isolation} build failed:\n${res.stderr}`);
      logs.set(isolation, res.stderr);
      layers.set(isolation, await describeImageLayers(layout, 'latest', 1));
    }
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('runs RUN steps in the initial user namespace, and userns mode does not', () => {
    assert.match(logs.get('chroot') ?? '', /user:\[4026531837\]/);
    assert.ok(!(logs.get('userns') ?? '').includes(INITIAL_USERNS), 'userns mode has its own');
  });

  it('gives the same layers as userns mode, entry by entry', () => {
    const chroot = layers.get('chroot') ?? [];
    assert.equal(chroot.length, 7, 'two WORKDIRs, two COPYs, three RUNs that change files');
    assert.deepEqual(layerDifferences(chroot, layers.get('userns') ?? [], started), []);
  });

  it('keeps what the steps made: owners, modes, links, special files, xattrs, whiteouts', () => {
    const all = new Map((layers.get('chroot') ?? []).flat().map((e) => [e.path, e]));
    assert.equal(all.get('/app/sub/tagged.bin')?.xattrs?.['user.kiln.note'], 'a2VwdA==');
    // Of two hard-linked names, the first in byte order carries the content.
    assert.equal(all.get('/app/sub/hard.txt')?.mode, 0o4755);
    assert.equal(all.get('/app/sub/made.txt')?.type, 'hardlink');
    assert.equal(all.get('/app/sub/made.txt')?.link, 'app/sub/hard.txt');
    assert.equal(all.get('/app/rel-link')?.link, '../made.txt');
    assert.equal(all.get('/opt/tools/tool')?.mode, 0o750);
    assert.equal(all.get('/opt/tools/tool-link')?.link, 'tool');
    assert.equal(all.get('/app/fifo')?.type, 'fifo');
    assert.ok(all.has('/bin/.wh.ls') && all.has('/.wh.home'), 'deletions are whiteouts');
    assert.deepEqual([all.get('/data/a/mine.txt')?.uid, all.get('/data/a/b')?.gid], [1000, 1000]);
    assert.equal(all.get('/data/new')?.uid, 1000, 'WORKDIR belongs to the USER');
    assert.ok(all.has('/app/offline.txt'), 'RUN --network=none ran');
  });

  it('has isolation none refuse RUN --network=none, which needs a network namespace', async () => {
    const offline = await writeContext(work, 'ctx-none', `FROM ${base}\nRUN --network=none true\n`);
    const res = await runKiln(
      [
        'build',
        '--isolation=none',
        '--progress=json',
        '--cache-dir',
        join(work, 'cache-none'),
        offline,
      ],
      { env: { ...process.env, KILN_ALLOW_ISOLATION_NONE: '1' } },
    );
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /RUN_NETWORK_NEEDS_NAMESPACES/);
  });

  it('is refused for a user who is not root, before any namespace is made', async () => {
    const user = await ensureTestUser();
    await runCommand('chmod', ['-R', 'a+rX', ctx]);
    const res = await runKilnAs(user, [
      'build',
      '--isolation=chroot',
      '--progress=json',
      '--cache-dir',
      join(user.home, '.cache', 'kiln-isolation-test'),
      ctx,
    ]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /SANDBOX_CHROOT_NEEDS_ROOT/);
  });
});
