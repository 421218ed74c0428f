import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setAttribute } from 'fs-xattr';
import { CopiedRoot } from './copied-root.js';
import { materializeLayers } from './materialize-layers.js';

const isRoot = process.getuid?.() === 0;

/** Two overlay-format layers: the lower has a tree, the upper overrides, hides and adds. */
async function makeLayers(dir: string): Promise<string[]> {
  const lower = path.join(dir, 'lower');
  const upper = path.join(dir, 'upper');
  await mkdir(path.join(lower, 'etc'), { recursive: true });
  await mkdir(path.join(lower, 'opq', 'old'), { recursive: true });
  await writeFile(path.join(lower, 'etc', 'keep'), 'lower keep\n');
  await writeFile(path.join(lower, 'etc', 'gone'), 'lower gone\n');
  await writeFile(path.join(lower, 'etc', 'over'), 'lower over\n');
  await writeFile(path.join(lower, 'opq', 'old', 'f'), 'hidden\n');
  await writeFile(path.join(lower, 'suid'), 'x');
  await chown(path.join(lower, 'suid'), 4242, 4343);
  await chmod(path.join(lower, 'suid'), 0o4755);
  await writeFile(path.join(lower, 'a'), 'linked\n');
  await link(path.join(lower, 'a'), path.join(lower, 'b'));
  await symlink('etc/keep', path.join(lower, 'ln'));

  await mkdir(path.join(upper, 'etc'), { recursive: true });
  await mkdir(path.join(upper, 'opq'), { recursive: true });
  await writeFile(path.join(upper, 'etc', 'over'), 'upper over\n');
  execFileSync('mknod', [path.join(upper, 'etc', 'gone'), 'c', '0', '0']);
  await setAttribute(path.join(upper, 'opq'), 'user.overlay.opaque', Buffer.from('y'));
  await writeFile(path.join(upper, 'opq', 'new'), 'new\n');
  return [lower, upper];
}

describe('materializeLayers', { skip: isRoot ? false : 'needs root (chown, mknod)' }, () => {
  let dir: string;
  let layers: string[];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-materialize-'));
    layers = await makeLayers(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('merges the layers as overlayfs would: top wins, whiteouts hide, opaque dirs cut', async () => {
    const target = await mkdtemp(path.join(dir, 'merged-'));
    await materializeLayers(layers, target, 'user');

    assert.equal(await readFile(path.join(target, 'etc', 'over'), 'utf8'), 'upper over\n');
    assert.equal(await readFile(path.join(target, 'etc', 'keep'), 'utf8'), 'lower keep\n');
    assert.deepEqual((await readdir(path.join(target, 'etc'))).sort(), ['keep', 'over']);
    assert.deepEqual(await readdir(path.join(target, 'opq')), ['new']);
    assert.equal(await readlink(path.join(target, 'ln')), 'etc/keep');
  });

  it('keeps owners, setuid bits and hard links, and links files to the layers by default', async () => {
    const target = await mkdtemp(path.join(dir, 'merged-'));
    await materializeLayers(layers, target, 'user');
    const suid = await lstat(path.join(target, 'suid'));
    assert.deepEqual([suid.uid, suid.gid, suid.mode & 0o7777], [4242, 4343, 0o4755]);
    const [a, b] = await Promise.all(['a', 'b'].map((n) => lstat(path.join(target, n))));
    assert.equal(a?.ino, b?.ino, 'a and b stay one file');
    const source = await lstat(path.join(layers[0] as string, 'a'));
    assert.equal(a?.ino, source.ino, 'a is the layer file itself');
  });

  it('copies instead of linking when asked, with the same metadata', async () => {
    const target = await mkdtemp(path.join(dir, 'merged-'));
    await materializeLayers(layers, target, 'user', { linkFiles: false });
    const a = await lstat(path.join(target, 'a'));
    const b = await lstat(path.join(target, 'b'));
    const source = await lstat(path.join(layers[0] as string, 'a'));
    assert.notEqual(a.ino, source.ino);
    assert.equal(a.ino, b.ino, 'hard links inside a layer survive the copy');
    const suid = await lstat(path.join(target, 'suid'));
    assert.equal(suid.mode & 0o7777, 0o4755);
  });
});

describe('CopiedRoot', { skip: isRoot ? false : 'needs root (chown, mknod)' }, () => {
  let dir: string;
  let layers: string[];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-copied-root-'));
    layers = await makeLayers(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes only what changed into the upper dir, deletions as whiteout devices', async () => {
    const tree = await CopiedRoot.create(layers, path.join(dir, 'scratch'), 'user');
    const upper = await mkdtemp(path.join(dir, 'upper-'));
    try {
      await writeFile(path.join(tree.root, 'etc', 'added'), 'added\n');
      await rm(path.join(tree.root, 'etc', 'keep'));
      await chmod(path.join(tree.root, 'suid'), 0o755);
      await writeFile(path.join(tree.root, 'ignored-file'), 'x');
      assert.equal(await tree.commit(upper, ['ignored-file']), 4);
    } finally {
      await tree.dispose();
    }

    assert.deepEqual((await readdir(upper)).sort(), ['etc', 'suid']);
    assert.deepEqual((await readdir(path.join(upper, 'etc'))).sort(), ['added', 'keep']);
    const whiteout = await lstat(path.join(upper, 'etc', 'keep'));
    assert.ok(whiteout.isCharacterDevice() && whiteout.rdev === 0, 'keep is a whiteout');
    assert.equal((await lstat(path.join(upper, 'suid'))).mode & 0o7777, 0o755);
    // The layer files the before tree linked to are untouched.
    assert.equal((await lstat(path.join(layers[0] as string, 'suid'))).mode & 0o7777, 0o4755);
    assert.equal(
      await readFile(path.join(layers[0] as string, 'etc', 'keep'), 'utf8'),
      'lower keep\n',
    );
  });

  it('finds nothing to write when the tree was not changed', async () => {
    const tree = await CopiedRoot.create(layers, path.join(dir, 'scratch'), 'user');
    const upper = await mkdtemp(path.join(dir, 'upper-'));
    try {
      assert.equal(await tree.commit(upper), 0);
    } finally {
      await tree.dispose();
    }
    assert.deepEqual(await readdir(upper), []);
  });
});
