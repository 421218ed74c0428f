/**
 * RUN with heredocs, built by the real CLI on a busybox base from a real registry: a heredoc
 * that is the whole command and starts with `#!` is a script run by its own interpreter (from a
 * read-only file at /dev/pipes/NAME that never reaches the layer), as BuildKit runs it; any
 * other heredoc goes to the shell.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeLayer } from './isolation-support.js';
import { memberContent, readCaseImage } from './support/case-image.js';
import { pushFixture } from './support/images.js';
import { jsonEvents } from './support/kiln.js';
import { layoutBuilder } from './support/layout-build.js';
import { readMergedRootfs } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { ensureTestUser } from './support/users.js';

describe('RUN with a heredoc', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  const build = layoutBuilder(() => work, 'json');

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-run-heredoc-'));
    await chmod(work, 0o755);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('runs a heredoc that starts with #! by its interpreter, leaving no script behind', async () => {
    const res = await build(`FROM ${base}
RUN <<EOF
#!/usr/bin/awk -f
BEGIN { print "awk ran" > "/by-awk" }
EOF
`);
    assert.equal(res.code, 0, res.stderr);
    const image = await readCaseImage(res.layout);
    const layer = await describeLayer(image.layerBlobs.at(-1) as string);
    assert.deepEqual(
      layer.map((e) => e.path),
      ['/by-awk'],
      'only what the script wrote: no /dev/pipes, no script file',
    );
    const rootfs = await readMergedRootfs(res.layout, 'latest');
    assert.equal(rootfs.get('/by-awk')?.size, 'awk ran\n'.length);

    const history = image.config.history as { created_by: string }[];
    assert.equal(history.at(-1)?.created_by, 'RUN /bin/sh -c /dev/pipes/EOF # buildkit');
    const names = jsonEvents(res.stderr)
      .filter((e) => e.type === 'step')
      .map((e) => String(e.name));
    assert.ok(
      names.includes('[stage-0 2/2] RUN <<EOF (#!/usr/bin/awk -f...)'),
      `the step is named after the heredoc's first line: ${names.join(', ')}`,
    );
  });

  for (const rootless of [false, true]) {
    it(`gives the script a read-only executable file at /dev/pipes/NAME as $0${rootless ? ', rootless' : ''}`, async () => {
      const res = await build(
        `FROM ${base}
RUN <<'SCRIPT'
#!/bin/sh
{
  echo "$0"
  if [ -x "$0" ]; then echo executable; fi
  if echo more >> "$0" 2>/dev/null; then echo writable; fi
  if touch /dev/pipes/other 2>/dev/null; then echo dir-writable; fi
} > /seen
SCRIPT
`,
        {},
        rootless ? await ensureTestUser() : undefined,
      );
      assert.equal(res.code, 0, res.stderr);
      const image = await readCaseImage(res.layout);
      const layer = await describeLayer(image.layerBlobs.at(-1) as string);
      assert.deepEqual(
        layer.map((e) => e.path),
        ['/seen'],
      );
      const seen = await memberContent(image.layerBlobs.at(-1) as string, layer[0]?.rawName ?? '');
      assert.equal(seen.toString(), '/dev/pipes/SCRIPT\nexecutable\n');
    });
  }

  it('leaves #! to the shell when the heredoc is not the whole command', async () => {
    const res = await build(`FROM ${base}
RUN sh <<EOF
#!/bin/false
echo via-sh > /via-sh
EOF
RUN <<A <<B
#!/bin/sh
echo one > /one
A
echo two > /two
B
RUN <<-EOF
	#!/bin/false
	echo tabbed > /tabbed
	EOF
`);
    assert.equal(res.code, 0, res.stderr);
    const rootfs = await readMergedRootfs(res.layout, 'latest');
    assert.ok(rootfs.has('/via-sh'), 'a heredoc fed to a command is its stdin');
    assert.ok(!rootfs.has('/one') && !rootfs.has('/two'), 'two heredocs are redirections only');
    assert.ok(rootfs.has('/tabbed'), 'a <<- body whose #! follows a tab is not a shebang');
  });
});
