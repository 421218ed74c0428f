/**
 * Where a build's inputs come from: a Dockerfile on stdin (`-f -`), a context tar on stdin
 * (`kiln build -`), a bare Dockerfile on stdin as the context, and -f relative to the current
 * directory. Checked through the real CLI against a real registry.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { runKiln } from './support/kiln.js';

describe('kiln build inputs', () => {
  const fixture = useBusyboxRegistry('inputs');

  it('reads the Dockerfile from stdin with -f -', async () => {
    const ctx = join(fixture.work, 'ctx1');
    await mkdir(ctx);
    await writeFile(join(ctx, 'data.txt'), 'from the context\n');
    const out = join(fixture.work, 'out1');
    const res = await runKiln(
      [
        'build',
        '-f',
        '-',
        '--progress=quiet',
        '--cache-dir',
        join(fixture.work, 'cache'),
        '-o',
        out,
        ctx,
      ],
      { input: `FROM ${fixture.base}\nCOPY data.txt /data.txt\n` },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readFile(join(out, 'data.txt'), 'utf8'), 'from the context\n');
  });

  it('takes a context tar on stdin, with -f naming a file inside it', async () => {
    const ctx = join(fixture.work, 'ctx2');
    await mkdir(join(ctx, 'sub'), { recursive: true });
    await writeFile(
      join(ctx, 'sub', 'Build.dockerfile'),
      `FROM ${fixture.base}\nCOPY sub/x.txt /x.txt\n`,
    );
    await writeFile(join(ctx, 'sub', 'x.txt'), 'x\n');
    const tar = execFileSync('tar', ['-C', ctx, '-cf', '-', '.']);
    const out = join(fixture.work, 'out2');
    const res = await runKiln(
      [
        'build',
        '-f',
        'sub/Build.dockerfile',
        '--progress=quiet',
        '--cache-dir',
        join(fixture.work, 'cache'),
        '-o',
        out,
        '-',
      ],
      { input: tar },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readFile(join(out, 'x.txt'), 'utf8'), 'x\n');
  });

  it('takes a bare Dockerfile on stdin as `docker build -` does, with an empty context', async () => {
    const out = join(fixture.work, 'out3');
    const res = await runKiln(
      ['build', '--progress=quiet', '--cache-dir', join(fixture.work, 'cache'), '-o', out, '-'],
      { input: `FROM ${fixture.base}\nRUN echo made > /made\n` },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readFile(join(out, 'made'), 'utf8'), 'made\n');
  });

  it('resolves -f against the current directory, not the context', async () => {
    const ctx = join(fixture.work, 'ctx4');
    const elsewhere = join(fixture.work, 'elsewhere');
    await mkdir(ctx);
    await mkdir(elsewhere);
    await writeFile(join(elsewhere, 'My.dockerfile'), `FROM ${fixture.base}\nRUN echo f > /f\n`);
    const out = join(fixture.work, 'out4');
    const res = await runKiln(
      [
        'build',
        '-f',
        'My.dockerfile',
        '--progress=quiet',
        '--cache-dir',
        join(fixture.work, 'cache'),
        '-o',
        out,
        ctx,
      ],
      { cwd: elsewhere },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readFile(join(out, 'f'), 'utf8'), 'f\n');
  });

  it('copies a file that a .dockerignore exception re-includes below an excluded directory', async () => {
    const ctx = join(fixture.work, 'ctx-reinclude');
    await mkdir(join(ctx, 'dir'), { recursive: true });
    await writeFile(join(ctx, '.dockerignore'), 'dir\n!dir/keep.txt\n');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${fixture.base}\nCOPY . /ctx/\n`);
    await writeFile(join(ctx, 'dir', 'drop.txt'), 'dropped\n');
    const build = async (keep: string, out: string) => {
      await writeFile(join(ctx, 'dir', 'keep.txt'), keep);
      const args = ['build', '--progress=quiet', '--cache-dir', join(fixture.work, 'cache')];
      const res = await runKiln([...args, '-o', join(fixture.work, out), ctx]);
      assert.equal(res.code, 0, res.stderr);
      return join(fixture.work, out, 'ctx', 'dir');
    };
    const first = await build('kept\n', 'out-reinclude1');
    assert.equal(await readFile(join(first, 'keep.txt'), 'utf8'), 'kept\n');
    await assert.rejects(readFile(join(first, 'drop.txt')));
    // The COPY's cache key covers the re-included file: a change to it is not served stale.
    const second = await build('changed\n', 'out-reinclude2');
    assert.equal(await readFile(join(second, 'keep.txt'), 'utf8'), 'changed\n');
  });

  it('says which file is missing when -f points nowhere, with exit code 2', async () => {
    const res = await runKiln([
      'build',
      '-f',
      join(fixture.work, 'nope'),
      '--cache-dir',
      join(fixture.work, 'cache'),
      fixture.work,
    ]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /Dockerfile not found: .*nope/);
  });
});
