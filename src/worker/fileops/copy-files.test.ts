import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LayerStack } from '../snapshot/layer-stack.js';
import { copyFiles } from './copy-files.js';

// Heredoc sources (COPY <<EOF /dest): files kiln wrote itself, copied like context files.

const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-copy-inline-'));
// rm(1), not rmSync: Node's synchronous recursive removal runs out of stack on the deep tree.
after(() => execFileSync('rm', ['-rf', '--', root]));
let n = 0;

function fixture() {
  const base = path.join(root, String(n++));
  const dirs = {
    ctx: path.join(base, 'ctx'),
    inline: path.join(base, 'inline'),
    image: path.join(base, 'image'),
    layer: path.join(base, 'layer'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  return { ...dirs, stack: new LayerStack([dirs.image], 'trusted') };
}

function write(p: string, content: string): void {
  writeFileSync(p, content);
  // Whoever ran kiln made the file; the layer must still give it to root.
  if (process.getuid?.() === 0) chownSync(p, 1000, 1000);
}

const isRoot = process.getuid?.() === 0;

describe('copyFiles() with heredoc sources', { skip: !isRoot && 'needs root to chown' }, () => {
  it('writes a heredoc source under the destination file name, owned by root', async () => {
    const f = fixture();
    mkdirSync(path.join(f.image, 'hd'));
    write(path.join(f.inline, 'EOT'), 'line1\n');

    await copyFiles({
      sourceRoot: f.ctx,
      sources: [],
      inline: { dir: f.inline, names: ['EOT'] },
      dest: '/hd/inline.txt',
      targetDir: f.layer,
      destStack: f.stack,
    });

    const st = lstatSync(path.join(f.layer, 'hd/inline.txt'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 0, 0o644]);
    assert.equal(readFileSync(path.join(f.layer, 'hd/inline.txt'), 'utf8'), 'line1\n');
  });

  it('puts heredoc and context sources side by side in a destination directory', async () => {
    const f = fixture();
    write(path.join(f.inline, 'EOF'), 'inline\n');
    write(path.join(f.ctx, 'a.txt'), 'a\n');

    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['a.txt'],
      inline: { dir: f.inline, names: ['EOF'] },
      dest: '/dst/',
      targetDir: f.layer,
      destStack: f.stack,
      chown: { uid: 7, gid: 8 },
    });

    for (const name of ['a.txt', 'EOF']) {
      const st = lstatSync(path.join(f.layer, 'dst', name));
      assert.deepEqual([st.uid, st.gid], [7, 8], name);
    }
    assert.equal(readFileSync(path.join(f.layer, 'dst/EOF'), 'utf8'), 'inline\n');
  });

  it('counts heredoc sources when it requires a directory destination', async () => {
    const f = fixture();
    write(path.join(f.inline, 'EOF'), 'x');
    write(path.join(f.ctx, 'a.txt'), 'a');
    await assert.rejects(
      copyFiles({
        sourceRoot: f.ctx,
        sources: ['a.txt'],
        inline: { dir: f.inline, names: ['EOF'] },
        dest: '/file',
        targetDir: f.layer,
        destStack: f.stack,
      }),
      /must be a directory/,
    );
  });
});

describe('copyFiles() of a deep tree', { skip: !isRoot && 'needs root to chown' }, () => {
  it('copies a context tree 2,000 directories deep in seconds, not minutes', async () => {
    const f = fixture();
    // Made with relative mkdir calls: an absolute path this long is past PATH_MAX for tools.
    const cwd = process.cwd();
    const deep = path.join(f.ctx, 'tree');
    mkdirSync(deep);
    try {
      process.chdir(deep);
      for (let i = 0; i < 2000; i++) {
        mkdirSync('d');
        process.chdir('d');
      }
      writeFileSync('leaf', 'x');
    } finally {
      process.chdir(cwd);
    }

    const started = performance.now();
    await copyFiles({
      sourceRoot: f.ctx,
      sources: ['tree'],
      dest: '/deep/',
      targetDir: f.layer,
      destStack: f.stack,
    });
    const seconds = (performance.now() - started) / 1000;

    const leaf = path.join(f.layer, 'deep', ...Array<string>(2000).fill('d'), 'leaf');
    assert.equal(readFileSync(leaf, 'utf8'), 'x');
    // Making each directory's parents again from the root cost depth³ string work: 89 s here,
    // against about 5 s of path walks in the kernel now (the bound leaves room for a busy host).
    assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
  });
});
