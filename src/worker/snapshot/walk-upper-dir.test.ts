/**
 * The upper-dir walk streams its entries in the order the tar needs, the order sortLayerEntries
 * gives the whole list: whiteouts sort by their `.wh.` names, not by the names they delete. The
 * whiteouts are real overlay whiteouts (character devices 0/0, made with mknod as root) and the
 * opaque directory has the real xattr.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setAttributeSync } from 'fs-xattr';
import { writeLayerBlob } from '../../image/layer-blob.js';
import type { LayerEntry } from '../../image/tar/entry.js';
import { diffUpperDir, sortLayerEntries, walkUpperDir } from './diff-upper-dir.js';

const root = process.getuid?.() === 0;

async function upperDir(dir: string): Promise<void> {
  await mkdir(join(dir, 'd/sub'), { recursive: true });
  await mkdir(join(dir, 'd.x'));
  await mkdir(join(dir, 'opaque'));
  setAttributeSync(join(dir, 'opaque'), 'user.overlay.opaque', 'y');
  for (const f of ['a', 'c', 'd/sub/f', 'd.x/g', 'opaque/kept', 'Z', '.hidden']) {
    await writeFile(join(dir, f), f);
  }
  await link(join(dir, 'd/sub/f'), join(dir, 'a-link'));
  // Deleted names: `b` sorts between `a` and `c`, but its `.wh.b` sorts before both.
  for (const gone of ['b', 'd/zz', 'opaque/old']) {
    execFileSync('mknod', [join(dir, gone), 'c', '0', '0']);
  }
}

describe('walkUpperDir', () => {
  it('gives the entries in tar order as it walks', {
    skip: !root && 'needs root for mknod',
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-walk-'));
    try {
      await upperDir(dir);
      const opts = { ignore: ['c'], xattrPrefix: 'user' as const };
      const streamed: LayerEntry[] = [];
      for await (const e of walkUpperDir(dir, opts)) streamed.push(e);
      const paths = streamed.map((e) => e.entry.path);

      assert.deepEqual(paths, [
        '.hidden',
        '.wh.b',
        'Z',
        'a',
        'a-link',
        'd',
        'd/.wh.zz',
        'd/sub',
        'd/sub/f',
        'd.x',
        'd.x/g',
        'opaque',
        'opaque/.wh..wh..opq',
        'opaque/.wh.old',
        'opaque/kept',
      ]);
      assert.deepEqual(
        sortLayerEntries(streamed).map((e) => e.entry.path),
        paths,
      );
      assert.deepEqual(
        (await diffUpperDir(dir, opts)).map((e) => e.entry.path),
        paths,
      );
      // The first name of the linked inode in the tar is the file; the later one links to it.
      const linked = streamed.find((e) => e.entry.path === 'd/sub/f');
      assert.equal(linked?.entry.type, 'hardlink');
      assert.equal(linked?.entry.linkname, 'a-link');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('makes the same layer streamed as from the whole sorted list', {
    skip: !root && 'needs root for mknod',
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-walk-'));
    try {
      const upper = join(dir, 'upper');
      await mkdir(upper);
      await upperDir(upper);
      await writeFile(join(upper, 'd/sub/big'), randomBytes(3 * 1024 * 1024));
      const opts = { ignore: [], xattrPrefix: 'user' as const };
      const gzip = { compression: 'gzip' as const, pigzThreads: 2 };
      const listed = sortLayerEntries(await diffUpperDir(upper, opts));
      const fromList = await writeLayerBlob(listed, join(dir, 'blobs-list'), gzip);
      const streamed = await writeLayerBlob(
        walkUpperDir(upper, opts),
        join(dir, 'blobs-stream'),
        gzip,
      );
      assert.deepEqual(streamed, fromList);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
