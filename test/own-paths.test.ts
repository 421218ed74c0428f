/**
 * What kiln writes itself (the cache dir, output destinations and their temp places, the
 * --iidfile and --metadata-file) is not part of the build context when it lies inside it, as in
 * a CI job whose caches must live under the project dir: COPY, RUN --mount binds of the context
 * and the context hash all see the context without them. Checked through the real CLI.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { runKiln } from './support/kiln.js';

describe("kiln's own files in the build context", () => {
  const fixture = useBusyboxRegistry('own-paths');

  it('leaves the cache dir, outputs and result files out of COPY . and context binds', async () => {
    const ctx = join(fixture.work, 'project');
    await mkdir(join(ctx, 'src'), { recursive: true });
    await mkdir(join(ctx, 'build'));
    await writeFile(join(ctx, 'src', 'app.txt'), 'app\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${fixture.base}
COPY . /ctx
RUN --mount=type=bind,target=/m cd /m && find . | sort > /bound.txt
`,
    );
    // Relative flags, as a CI job passes them, resolved against the current directory.
    const args = [
      'build',
      '--progress=plain',
      '--cache-dir',
      '.kiln-cache',
      '--iidfile',
      'build/iid.txt',
      '--metadata-file',
      'meta.json',
      '-o',
      'type=local,dest=build/rootfs',
      '-o',
      'type=oci,dest=image.tar',
      '.',
    ];
    const first = await runKiln(args, { cwd: ctx });
    assert.equal(first.code, 0, first.stderr);
    // The second build finds all of the first one's files in its context directory.
    const second = await runKiln(args, { cwd: ctx });
    assert.equal(second.code, 0, second.stderr);

    const rootfs = join(ctx, 'build', 'rootfs');
    // build/ is the user's directory; only what kiln writes into it is left out.
    assert.deepEqual((await readdir(join(rootfs, 'ctx'))).sort(), ['Dockerfile', 'build', 'src']);
    assert.deepEqual(await readdir(join(rootfs, 'ctx', 'build')), []);
    assert.equal(
      await readFile(join(rootfs, 'bound.txt'), 'utf8'),
      ['.', './Dockerfile', './build', './src', './src/app.txt', ''].join('\n'),
    );
    // Nothing of its own went into the context hash: the second build was all cache hits.
    assert.match(second.stderr, /COPY \. \/ctx\n#\d+ CACHED/);
    assert.match(second.stderr, /RUN cd \/m .*\n#\d+ CACHED/);
  });
});
