/**
 * COPY rules, run as root (chown needs it): each test builds a context and a destination image
 * dir by hand, copies into a fresh layer dir and checks what the layer holds.
 */

import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { copyFiles } from '../src/worker/fileops/copy-files.js';
import { LayerStack } from '../src/worker/snapshot/layer-stack.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-fileops-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function fixture() {
  const base = path.join(root, String(n++));
  const ctx = path.join(base, 'ctx');
  const image = path.join(base, 'image');
  const layer = path.join(base, 'layer');
  for (const d of [ctx, image, layer]) mkdirSync(d, { recursive: true });
  const stack = new LayerStack([image], 'trusted');
  return { ctx, image, layer, stack };
}

function write(p: string, content: string, mode = 0o644): void {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  chmodSync(p, mode);
}

const isRoot = process.getuid?.() === 0;

describe('copyFiles', { skip: !isRoot && 'needs root for chown' }, () => {
  test('gives context files to root whatever their owner on disk', async () => {
    const f = fixture();
    write(path.join(f.ctx, 'data.txt'), 'payload\n');
    write(path.join(f.ctx, 'app/run.sh'), '#!/bin/sh\n', 0o755);
    chmodSync(path.join(f.ctx, 'app'), 0o755);
    for (const p of ['data.txt', 'app', 'app/run.sh']) chownSync(path.join(f.ctx, p), 1000, 1000);

    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['data.txt'],
      dest: '/data.txt',
      targetDir: f.layer,
      destStack: f.stack,
    });
    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['app'],
      dest: '/app',
      targetDir: f.layer,
      destStack: f.stack,
    });

    for (const [p, mode] of [
      ['data.txt', 0o644],
      ['app', 0o755],
      ['app/run.sh', 0o755],
    ] as const) {
      const st = lstatSync(path.join(f.layer, p));
      assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 0, mode], p);
    }
  });

  test('keeps the mode and owner of an existing destination directory', async () => {
    const f = fixture();
    mkdirSync(path.join(f.image, 'target'));
    chownSync(path.join(f.image, 'target'), 123, 456);
    chmodSync(path.join(f.image, 'target'), 0o1777);
    write(path.join(f.ctx, 'srcdir/file.txt'), 'x\n');
    chmodSync(path.join(f.ctx, 'srcdir'), 0o700);
    chownSync(path.join(f.ctx, 'srcdir'), 1000, 1000);

    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['srcdir/'],
      dest: '/target/',
      targetDir: f.layer,
      destStack: f.stack,
    });

    const st = lstatSync(path.join(f.layer, 'target'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [123, 456, 0o1777]);
    assert.equal(readFileSync(path.join(f.layer, 'target/file.txt'), 'utf8'), 'x\n');
  });

  test('follows a symlink named as the source and keeps links inside a copied directory', async () => {
    const f = fixture();
    write(path.join(f.ctx, 'some_path/the_file'), 'hello world\n');
    symlinkSync('some_path/the_file', path.join(f.ctx, 'the_symlink'));
    write(path.join(f.ctx, 'linkdir/target.txt'), 't\n');
    symlinkSync('target.txt', path.join(f.ctx, 'linkdir/rel'));

    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['the_symlink'],
      dest: '/the_file',
      targetDir: f.layer,
      destStack: f.stack,
    });
    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['linkdir'],
      dest: '/linkdir',
      targetDir: f.layer,
      destStack: f.stack,
    });

    assert.ok(lstatSync(path.join(f.layer, 'the_file')).isFile());
    assert.equal(readFileSync(path.join(f.layer, 'the_file'), 'utf8'), 'hello world\n');
    assert.equal(readlinkSync(path.join(f.layer, 'linkdir/rel')), 'target.txt');
  });

  test('keeps hard links within the copied set and the source owners for --from', async () => {
    const f = fixture();
    write(path.join(f.ctx, 's1/a'), 'data\n');
    linkSync(path.join(f.ctx, 's1/a'), path.join(f.ctx, 's1/b'));
    chownSync(path.join(f.ctx, 's1/a'), 7, 8);

    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['/s1'],
      dest: '/s2',
      targetDir: f.layer,
      destStack: f.stack,
      fromStage: true,
    });

    const a = lstatSync(path.join(f.layer, 's2/a'));
    const b = lstatSync(path.join(f.layer, 's2/b'));
    assert.equal(a.ino, b.ino);
    assert.deepEqual([a.uid, a.gid], [7, 8]);
  });

  test('puts a file inside a destination ending in / and creates parents 0755 root', async () => {
    const f = fixture();
    write(path.join(f.ctx, 'x.txt'), 'x');
    utimesSync(path.join(f.ctx, 'x.txt'), 1000, 1_600_000_000);

    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['x.txt'],
      dest: '/a/b/',
      targetDir: f.layer,
      destStack: f.stack,
    });

    const st = lstatSync(path.join(f.layer, 'a/b/x.txt'));
    assert.equal(st.mtimeMs, 1_600_000_000_000);
    for (const d of ['a', 'a/b']) {
      const ds = lstatSync(path.join(f.layer, d));
      assert.deepEqual([ds.uid, ds.gid, ds.mode & 0o7777], [0, 0, 0o755], d);
    }
  });

  test('expands wildcards as Go filepath.Match and needs a directory for several sources', async () => {
    const f = fixture();
    write(path.join(f.ctx, 'a1.txt'), '1');
    write(path.join(f.ctx, 'a2.txt'), '2');
    write(path.join(f.ctx, 'b.txt'), 'b');

    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['a[0-9].txt'],
      dest: '/out',
      targetDir: f.layer,
      destStack: f.stack,
    });
    assert.equal(readFileSync(path.join(f.layer, 'out/a1.txt'), 'utf8'), '1');
    assert.equal(readFileSync(path.join(f.layer, 'out/a2.txt'), 'utf8'), '2');
    assert.throws(() => lstatSync(path.join(f.layer, 'out/b.txt')));
    await assert.rejects(
      copyFiles({
        sourceRoot: f.ctx,
        sources: ['a1.txt', 'b.txt'],
        dest: '/one',
        targetDir: f.layer,
        destStack: f.stack,
      }),
      /must be a directory/,
    );
  });

  test('treats a source excluded by .dockerignore as missing', async () => {
    const f = fixture();
    write(path.join(f.ctx, 'secret.txt'), 's');
    await assert.rejects(
      copyFiles({
        sourceRoot: f.ctx,
        sources: ['secret.txt'],
        dest: '/secret.txt',
        targetDir: f.layer,
        destStack: f.stack,
        ignore: (p) => p === 'secret.txt',
      }),
      /"secret\.txt": not found/,
    );
  });

  test('reads .. above the source root as the root, as BuildKit joins a source to /', async () => {
    const f = fixture();
    write(path.join(f.ctx, 'x'), 'in the context\n');
    write(path.join(f.ctx, '..', 'x'), 'outside\n');
    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['../x'],
      dest: '/x',
      targetDir: f.layer,
      destStack: f.stack,
    });
    assert.equal(readFileSync(path.join(f.layer, 'x'), 'utf8'), 'in the context\n');
  });

  test('applies --chown and --chmod to every copied file and directory', async () => {
    const f = fixture();
    write(path.join(f.ctx, 'd/f'), 'f', 0o600);
    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['d'],
      dest: '/d',
      targetDir: f.layer,
      destStack: f.stack,
      chown: { uid: 5, gid: 6 },
      chmod: 'u+x,g+r',
    });
    const st = lstatSync(path.join(f.layer, 'd/f'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [5, 6, 0o740]);
  });

  test('leaves out --exclude matches', async () => {
    const f = fixture();
    write(path.join(f.ctx, 'src/keep.js'), 'k');
    write(path.join(f.ctx, 'src/sub/drop.md'), 'd');
    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['src'],
      dest: '/app',
      targetDir: f.layer,
      destStack: f.stack,
      exclude: ['**/*.md'],
    });
    assert.ok(lstatSync(path.join(f.layer, 'app/keep.js')).isFile());
    assert.throws(() => lstatSync(path.join(f.layer, 'app/sub/drop.md')));
  });
});
