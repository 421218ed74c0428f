/**
 * /etc/hosts and /etc/resolv.conf during RUN, built by the real CLI on a busybox base from a real
 * registry. BuildKit (0.8, tried with Debian's dockerd) binds both read-only with nosuid, nodev
 * and noexec: removing or renaming them fails with "Device or resource busy", writing them with
 * "Read-only file system", and nothing of them reaches the layer, neither content nor whiteout.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeLayer } from './isolation-support.js';
import { readCaseImage } from './support/case-image.js';
import { pushFixture } from './support/images.js';
import { layoutBuilder } from './support/layout-build.js';
import { readMergedRootfs } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { ensureTestUser } from './support/users.js';

describe('RUN with the generated /etc/hosts and /etc/resolv.conf', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  const build = layoutBuilder(() => work, 'plain');

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-run-etc-'));
    await chmod(work, 0o755);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const command of [
    'rm /etc/hosts',
    'rm /etc/resolv.conf',
    'mv /etc/resolv.conf /etc/resolv.old',
    'rm -rf /etc',
  ]) {
    it(`fails \`${command}\` as busy, as BuildKit does`, async () => {
      const res = await build(`FROM ${base}\nCOPY hosts /etc/hosts\nRUN ${command}\n`, {
        hosts: '127.0.0.1 image-own\n',
      });
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /Device or resource busy/);
    });
  }

  for (const [own, rootless] of [
    [true, false],
    [false, false],
    [true, true],
  ]) {
    const how = `${own ? 'has' : 'lacks'} its own${rootless ? ', rootless' : ''}`;
    it(`keeps both files out of the layer when the image ${how}`, async () => {
      const res = await build(
        `FROM ${base}
${own ? 'COPY hosts /etc/hosts\n' : ''}RUN rm -rf /etc; \\
    if echo 1.1.1.1 added >> /etc/hosts; then echo hosts-"writable"; fi; \\
    if echo nameserver 1.1.1.1 >> /etc/resolv.conf; then echo resolv-"writable"; fi; \\
    ls -a /etc > /etc-left
`,
        { hosts: '127.0.0.1 image-own\n' },
        rootless ? await ensureTestUser() : undefined,
      );
      assert.equal(res.code, 0, res.stderr);
      assert.doesNotMatch(res.stderr, /hosts-writable|resolv-writable/, 'both are read-only');
      const image = await readCaseImage(res.layout);
      const layer = await describeLayer(image.layerBlobs.at(-1) as string);
      const names = layer.map((e) => e.path);
      assert.deepEqual(
        names.filter((p) => /hosts|resolv/.test(p)),
        [],
        `no file and no whiteout for them: ${names.join(' ')}`,
      );
      const rootfs = await readMergedRootfs(res.layout, 'latest');
      assert.equal(rootfs.has('/etc/hosts'), own, 'the image keeps its own /etc/hosts, if any');
      assert.ok(!rootfs.has('/etc/resolv.conf'), 'the host resolv.conf never lands in the image');
      assert.ok(!rootfs.has('/etc/passwd'), 'the rest of /etc was deleted');
    });
  }
});
