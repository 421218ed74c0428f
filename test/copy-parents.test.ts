/**
 * `COPY --parents` as BuildKit's Dockerfile frontend does it: each source keeps its parent
 * directories (from the source root, or from a `/./` pivot in the source) under the destination,
 * with wildcards and with --from a stage. Checked through the real CLI against a golden tree.
 */
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { runKiln } from './support/kiln.js';

/** Every path below `dir` (relative) with its type and permission bits, sorted. */
async function tree(dir: string, rel = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const st = await lstat(join(dir, path));
    const mode = (st.mode & 0o7777).toString(8);
    lines.push(`${st.isDirectory() ? 'd' : 'f'} ${mode} ${path}`);
    if (st.isDirectory()) lines.push(...(await tree(dir, path)));
  }
  return lines;
}

describe('COPY --parents', () => {
  const fixture = useBusyboxRegistry('copy-parents');

  it('keeps each source’s parents under the destination, from the root or a /./ pivot', async () => {
    const ctx = join(fixture.work, 'ctx');
    for (const d of ['d1/s', 'd2', 'x/y', 'x/q']) await mkdir(join(ctx, d), { recursive: true });
    for (const f of ['d1/s/b', 'd1/a', 'd2/c', 'x/y/z.txt', 'x/q/w.txt', 'x/y/skip.bin']) {
      await writeFile(join(ctx, f), `${f}\n`);
    }
    await chmod(join(ctx, 'd1'), 0o750);
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${fixture.base} AS src
COPY d2 /srv/d2
FROM scratch
COPY --parents d1/s/b d2/c /dest/
COPY --parents d*/s /dir/
COPY --parents x/./*/*.txt /pivot/
COPY --parents ./d2/c /nodash
COPY --from=src --parents /srv/./d2/c /srv/d2 /fromstage/
`,
    );
    const out = join(fixture.work, 'out');
    const res = await runKiln(
      [
        'build',
        '--progress=plain',
        '--cache-dir',
        join(fixture.work, 'cache'),
        '-o',
        `type=local,dest=${out}`,
        ctx,
      ],
      {},
    );
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(await tree(out), [
      'd 755 dest',
      'd 750 dest/d1',
      'd 755 dest/d1/s',
      'f 644 dest/d1/s/b',
      'd 755 dest/d2',
      'f 644 dest/d2/c',
      'd 755 dir',
      'd 750 dir/d1',
      'd 755 dir/d1/s',
      'f 644 dir/d1/s/b',
      'd 755 fromstage',
      'd 755 fromstage/d2',
      'f 644 fromstage/d2/c',
      'd 755 fromstage/srv',
      'd 755 fromstage/srv/d2',
      'f 644 fromstage/srv/d2/c',
      'd 755 nodash',
      'd 755 nodash/d2',
      'f 644 nodash/d2/c',
      'd 755 pivot',
      'd 755 pivot/q',
      'f 644 pivot/q/w.txt',
      'd 755 pivot/y',
      'f 644 pivot/y/z.txt',
    ]);
  });

  it('is part of the cache key: the same COPY without --parents is not a cache hit', async () => {
    const ctx = join(fixture.work, 'ctx2');
    await mkdir(join(ctx, 'a'), { recursive: true });
    await writeFile(join(ctx, 'a', 'f'), 'f\n');
    const cache = join(fixture.work, 'cache2');
    const build = async (flag: string) => {
      await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY ${flag}a/f /out/\n`);
      const out = join(fixture.work, `out2${flag.trim()}`);
      const res = await runKiln(
        ['build', '--progress=plain', '--cache-dir', cache, '-o', `type=local,dest=${out}`, ctx],
        {},
      );
      assert.equal(res.code, 0, res.stderr);
      return tree(out);
    };
    assert.deepEqual(await build(''), ['d 755 out', 'f 644 out/f']);
    assert.deepEqual(await build('--parents '), ['d 755 out', 'd 755 out/a', 'f 644 out/a/f']);
  });
});
