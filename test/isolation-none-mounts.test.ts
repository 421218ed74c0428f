/**
 * RUN --mount with --isolation=none (no namespace, no mount), built by the real CLI as root on
 * the host with the container promise given, on a busybox base from a real registry: every
 * mount type but ssh is emulated by putting content in the copied root and taking it out again.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeLayer, writeContext } from './isolation-support.js';
import { readCaseImage } from './support/case-image.js';
import { pushFixture } from './support/images.js';
import { runKiln } from './support/kiln.js';
import { readMergedRootfs } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const SECRET = 'none-mode-secret-5e1f0a';

describe('RUN --mount with --isolation=none', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;

  function build(ctx: string, name: string, extra: string[] = []) {
    return runKiln(
      [
        'build',
        '--isolation=none',
        '--progress=plain',
        '--cache-dir',
        join(work, 'cache'),
        '-o',
        `type=oci,dest=${join(work, name)},tar=false`,
        ...extra,
        ctx,
      ],
      { env: { ...process.env, KILN_ALLOW_ISOLATION_NONE: '1' } },
    );
  }

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-none-mounts-'));
    await chmod(work, 0o755);
    await writeFile(join(work, 'token'), SECRET);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('gives bind, cache, tmpfs and secret mounts, and none of them reaches the layer', async () => {
    const ctx = await writeContext(
      work,
      'ctx',
      `FROM ${base} AS src
RUN mkdir /d && echo from-stage > /d/file

FROM ${base}
RUN --mount=target=/ctx \\
    --mount=type=bind,from=src,source=/d,target=/etc/m,rw \\
    --mount=type=cache,target=/var/cache/app,id=counter \\
    --mount=type=tmpfs,target=/home \\
    --mount=type=secret,id=tok \\
    --mount=type=secret,id=tok,env=TOKEN \\
    cat /ctx/data.txt /etc/m/file > /out && echo scribble > /etc/m/new \\
 && n=$(cat /var/cache/app/n 2>/dev/null || echo 0) && echo $((n+1)) > /var/cache/app/n \\
 && test -z "$(ls -A /home)" && echo in-tmpfs > /home/x \\
 && test "$(cat /run/secrets/tok)" = "$TOKEN" && echo secret-ok >> /out
`,
      { 'data.txt': 'from-context\n' },
    );
    const res = await build(ctx, 'layout', ['--secret', `id=tok,src=${join(work, 'token')}`]);
    assert.equal(res.code, 0, res.stderr);

    const image = await readCaseImage(join(work, 'layout'));
    const layer = await describeLayer(image.layerBlobs.at(-1) as string);
    assert.deepEqual(
      layer.map((e) => e.path),
      ['/out'],
      'no mount target, no parent made for one, no touched directory',
    );
    const rootfs = await readMergedRootfs(join(work, 'layout'), 'latest');
    assert.equal(rootfs.get('/out')?.size, 'from-context\nfrom-stage\nsecret-ok\n'.length);
    assert.ok(rootfs.has('/home/app'), 'what the image had under a target is back');
    assert.equal(
      (await readFile(join(work, 'cache', 'mounts', 'counter', 'n'), 'utf8')).trim(),
      '1',
      'the cache directory is back in the store with what the step wrote',
    );
  });

  it('runs a #! heredoc from /dev/pipes, which stays out of the layer', async () => {
    const ctx = await writeContext(
      work,
      'ctx-heredoc',
      `FROM ${base}\nRUN <<EOF\n#!/usr/bin/awk -f\nBEGIN { print "awk ran" > "/by-awk" }\nEOF\n`,
    );
    const res = await build(ctx, 'layout-heredoc');
    assert.equal(res.code, 0, res.stderr);
    const image = await readCaseImage(join(work, 'layout-heredoc'));
    const layer = await describeLayer(image.layerBlobs.at(-1) as string);
    assert.deepEqual(
      layer.map((e) => e.path),
      ['/by-awk'],
    );
  });

  it('refuses an SSH agent mount with a typed error', async () => {
    const ctx = await writeContext(
      work,
      'ctx-ssh',
      `FROM ${base}\nRUN --mount=type=ssh,required=false true\n`,
    );
    const socket = join(work, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !(await stat(socket).catch(() => undefined)); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const res = await build(ctx, 'layout-ssh', ['--ssh', `default=${socket}`]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /ssh at \/run\/buildkit\/ssh_agent.0 needs a mount/);
    } finally {
      agent.kill();
    }
  });
});
