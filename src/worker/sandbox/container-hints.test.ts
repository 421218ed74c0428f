import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KilnError } from '../../errors.js';
import { containerHint } from './container-hints.js';
import { checkIsolationNone } from './userns.js';

const HOST_MOUNTINFO = '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n';

/** A fake root with the files containerHint reads. */
async function fakeRoot(parent: string, files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(parent, 'root-'));
  const all = { 'proc/self/cgroup': '0::/\n', 'proc/self/mountinfo': HOST_MOUNTINFO, ...files };
  for (const [rel, content] of Object.entries(all)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content);
  }
  return root;
}

describe('containerHint', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-hints-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds nothing on a plain host', async () => {
    assert.equal(await containerHint({ root: await fakeRoot(dir, {}), env: {} }), undefined);
  });

  it("names Docker's and Podman's marker files", async () => {
    const docker = await fakeRoot(dir, { '.dockerenv': '' });
    assert.equal(await containerHint({ root: docker, env: {} }), '/.dockerenv exists');
    const podman = await fakeRoot(dir, { 'run/.containerenv': '' });
    assert.equal(await containerHint({ root: podman, env: {} }), '/run/.containerenv exists');
  });

  it('reads the container and Kubernetes variables', async () => {
    const root = await fakeRoot(dir, {});
    assert.match(String(await containerHint({ root, env: { container: 'podman' } })), /podman/);
    const k8s = { KUBERNETES_SERVICE_HOST: '10.0.0.1' };
    assert.match(String(await containerHint({ root, env: k8s })), /KUBERNETES/);
  });

  it('recognises a runtime in the cgroup path or the root mount', async () => {
    const cg = await fakeRoot(dir, { 'proc/self/cgroup': '0::/kubepods/burstable/pod1/abc\n' });
    assert.equal(await containerHint({ root: cg, env: {} }), '/proc/self/cgroup names kubepods');
    const mi = '1 0 0:50 /var/lib/docker/overlay2/x/merged / rw - overlay overlay rw\n';
    const mounted = await fakeRoot(dir, { 'proc/self/mountinfo': mi });
    assert.equal(await containerHint({ root: mounted, env: {} }), 'the root mount names docker');
  });
});

describe('checkIsolationNone', () => {
  it('refuses when nothing says this is a container and nobody confirmed it', async () => {
    await assert.rejects(
      checkIsolationNone({}, async () => undefined),
      (err) => err instanceof KilnError && err.code === 'SANDBOX_NONE_REFUSED',
    );
  });

  it('allows a detected container, or an explicit KILN_ALLOW_ISOLATION_NONE=1', async () => {
    await checkIsolationNone({}, async () => '/.dockerenv exists');
    await checkIsolationNone({ KILN_ALLOW_ISOLATION_NONE: '1' }, async () => undefined);
  });
});
