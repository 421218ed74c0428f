/**
 * The rootless ownership criterion: an unprivileged user with a subordinate id range builds an
 * image whose RUN steps create users, chown to several ids and set setuid, setgid and sticky
 * bits; the image, read as root by umoci (merged view) and GNU tar (each layer), has exactly
 * those owners and modes, and a root build in chroot mode gives the same layers. Debian's
 * busybox-static has no adduser/addgroup applets, so the RUN adds the user and group the way
 * they do: lines in /etc/passwd and /etc/group and a home directory.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  describeImageLayers,
  type LayerEntryFacts,
  layerDifferences,
  writeContext,
} from './isolation-support.js';
import { mergeHeaders, type TarEntry } from './support/case-image.js';
import { runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { runKiln, runKilnAs } from './support/kiln.js';
import { type RootfsEntry, readMergedRootfs } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { ensureTestUser, type TestUser } from './support/users.js';

const DOCKERFILE = (base: string) => `FROM ${base}
RUN echo 'crew:x:4343:' >> /etc/group \\
 && echo 'deck:x:4242:4343:deck:/home/deck:/bin/sh' >> /etc/passwd \\
 && mkdir -p /home/deck && chown 4242:4343 /home/deck && mkdir -p /owned /usr/local/bin \\
 && touch /owned/root /owned/app /owned/nobody /owned/deck \\
 && chown 0:0 /owned/root && chown 1000:1000 /owned/app \\
 && chown 65534:65534 /owned/nobody && chown 4242:4343 /owned/deck \\
 && cp /bin/busybox /usr/local/bin/sbb && chmod 4755 /usr/local/bin/sbb \\
 && mkdir /shared && chown 0:2000 /shared && chmod 2777 /shared \\
 && mkdir /scratch && chmod 1777 /scratch
COPY --chown=4242:4343 note.txt /home/deck/note.txt
USER deck
RUN touch /scratch/by-deck /shared/by-deck && mkdir /home/deck/work
`;

/** path -> [uid, gid, mode] that the image must have, in its merged view and its layer headers. */
const EXPECTED: Record<string, [number, number, number]> = {
  '/owned/root': [0, 0, 0o644],
  '/owned/app': [1000, 1000, 0o644],
  '/owned/nobody': [65534, 65534, 0o644],
  '/owned/deck': [4242, 4343, 0o644],
  '/usr/local/bin/sbb': [0, 0, 0o4755],
  '/shared': [0, 2000, 0o2777],
  '/scratch': [0, 0, 0o1777],
  '/home/deck': [4242, 4343, 0o755],
  '/home/deck/note.txt': [4242, 4343, 0o644],
  '/home/deck/work': [4242, 4343, 0o755],
  '/scratch/by-deck': [4242, 4343, 0o644],
  // The setgid directory hands its group to what is made inside it.
  '/shared/by-deck': [4242, 2000, 0o644],
};

function ownerOf(e: RootfsEntry | TarEntry | undefined): [number, number, number] | undefined {
  return e === undefined ? undefined : [e.uid, e.gid, e.mode];
}

describe('rootless ownership', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  let user: TestUser;
  let started: number;
  const layouts = new Map<string, string>();
  const layers = new Map<string, LayerEntryFacts[][]>();

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    user = await ensureTestUser();
    work = await mkdtemp(join(tmpdir(), 'kiln-ownership-'));
    await chmod(work, 0o755);
    const userWork = join(work, 'user');
    await mkdir(userWork);
    const ctx = await writeContext(userWork, 'ctx', DOCKERFILE(base), { 'note.txt': 'hi\n' });
    await runCommand('chown', ['-R', `${user.uid}:${user.gid}`, userWork]);
    started = Math.floor(Date.now() / 1000);

    const rootless = join(userWork, 'layout');
    const res = await runKilnAs(user, [
      'build',
      '--progress=plain',
      '--cache-dir',
      join(userWork, 'cache'),
      '-o',
      `type=oci,dest=${rootless},tar=false`,
      ctx,
    ]);
    assert.equal(res.code, 0, `rootless build failed:\n${res.stderr}`);
    layouts.set('rootless', rootless);

    const chrootLayout = join(work, 'chroot-layout');
    const asRoot = await runKiln([
      'build',
      '--isolation=chroot',
      '--progress=plain',
      '--cache-dir',
      join(work, 'chroot-cache'),
      '-o',
      `type=oci,dest=${chrootLayout},tar=false`,
      ctx,
    ]);
    assert.equal(asRoot.code, 0, `chroot build failed:\n${asRoot.stderr}`);
    layouts.set('chroot', chrootLayout);

    for (const [name, layout] of layouts) {
      layers.set(name, await describeImageLayers(layout, 'latest', 1));
    }
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('has the owners and modes the RUN steps set, in the merged view umoci unpacks', async () => {
    const rootfs = await readMergedRootfs(layouts.get('rootless') as string, 'latest');
    for (const [path, want] of Object.entries(EXPECTED)) {
      assert.deepEqual(ownerOf(rootfs.get(path)), want, path);
    }
    const passwd = rootfs.get('/etc/passwd');
    assert.ok(passwd, 'adduser wrote /etc/passwd');
  });

  it('has those owners and modes in the layer headers, as GNU tar lists them', () => {
    const rootless = layers.get('rootless') ?? [];
    const merged = mergeHeaders(rootless);
    for (const [path, want] of Object.entries(EXPECTED)) {
      assert.deepEqual(ownerOf(merged.get(path)), want, path);
    }
    // No id leaks from the host side of the mapping: every owner is one the image knows of.
    const ids = new Set(rootless.flat().flatMap((e) => [e.uid, e.gid]));
    assert.deepEqual(
      [...ids].sort((a, b) => a - b),
      [0, 1000, 2000, 4242, 4343, 65534],
    );
  });

  it('gives the same layers as a root build in chroot mode, entry by entry', () => {
    const rootless = layers.get('rootless') ?? [];
    assert.equal(rootless.length, 3, 'one layer per RUN and the COPY');
    assert.deepEqual(layerDifferences(rootless, layers.get('chroot') ?? [], started), []);
  });
});
