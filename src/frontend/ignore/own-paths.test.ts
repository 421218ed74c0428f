import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { leaveOutOwnPaths, ownPathsInContext } from './own-paths.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-own-paths-'));
after(() => rmSync(root, { recursive: true, force: true }));
const ctx = path.join(root, 'ctx');
mkdirSync(path.join(ctx, 'ci', 'cache'), { recursive: true });
symlinkSync(ctx, path.join(root, 'link'));

describe('ownPathsInContext()', () => {
  it('finds paths inside the context through symlinks, existing or not', () => {
    const own = ownPathsInContext(path.join(root, 'link'), [
      path.join(ctx, 'ci', 'cache'),
      path.join(root, 'link', 'out', 'rootfs'),
      path.join(root, 'elsewhere'),
      ctx,
    ]);
    assert.deepEqual(own, [
      { parent: 'ci', name: 'cache' },
      { parent: 'out', name: 'rootfs' },
    ]);
  });
});

describe('leaveOutOwnPaths()', () => {
  const ignore = leaveOutOwnPaths(
    (rel) => rel === 'secret',
    [
      { parent: 'ci', name: 'cache' },
      { parent: '', name: 'image.tar' },
    ],
  );

  it('leaves out the paths, what is below them and their staging temp places', () => {
    for (const rel of ['ci/cache', 'ci/cache/blobs/x', 'image.tar', '.image.tar.kiln-new-1a2b']) {
      assert.equal(ignore(rel), true, rel);
    }
  });

  it('keeps their parents, look-alike names and what the .dockerignore keeps', () => {
    for (const rel of ['ci', 'ci/cache2', 'ci/cachex/y', 'image.tar.gz', 'x/image.tar']) {
      assert.equal(ignore(rel), false, rel);
    }
    assert.equal(ignore('secret'), true);
  });
});
