/**
 * A layer blob damaged in the local cache (a disk fault, a hand edit) is never exported or
 * pushed as if it were fine: the build says which blob was bad and that it was removed, and the
 * next build makes or fetches it again.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdir, open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { jsonEvents, runKiln } from './support/kiln.js';
import { sha256File } from './support/oci-layout-writer.js';

interface Manifest {
  layers: Array<{ digest: string; size: number }>;
}

describe('a corrupt blob in the local cache', () => {
  const fixture = useBusyboxRegistry('cache-corrupt');

  async function setup(name: string): Promise<{ ctx: string; cacheDir: string }> {
    const ctx = join(fixture.work, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${fixture.base}\nCOPY data.bin /\n`);
    // Random bytes do not compress, so the layer blob is about this big.
    await writeFile(join(ctx, 'data.bin'), randomBytes(256 * 1024));
    return { ctx, cacheDir: join(fixture.work, `cache-${name}`) };
  }

  function build(ctx: string, cacheDir: string, output: string[]) {
    return runKiln(['build', '--progress=json', '--cache-dir', cacheDir, ...output, ctx]);
  }

  async function layersOf(layout: string): Promise<Manifest['layers']> {
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    const digest: string = index.manifests[0].digest;
    const manifest: Manifest = JSON.parse(
      await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8'),
    );
    return manifest.layers;
  }

  /** Fails unless every layer blob in the layout has its digest. */
  async function assertLayoutSound(layout: string): Promise<void> {
    for (const layer of await layersOf(layout)) {
      const file = join(layout, 'blobs', 'sha256', layer.digest.slice(7));
      assert.equal(await sha256File(file), layer.digest, `blob ${layer.digest} in ${layout}`);
    }
  }

  const cachePath = (cacheDir: string, digest: string) =>
    join(cacheDir, 'blobs', 'sha256', digest.slice(7));

  const gone = (file: string) =>
    access(file).then(
      () => false,
      () => true,
    );

  function errorOf(stderr: string): Record<string, unknown> | undefined {
    return jsonEvents(stderr).find((e) => e.type === 'error');
  }

  it('refuses to export a truncated built layer, removes it, and the next build rebuilds it', async () => {
    const { ctx, cacheDir } = await setup('truncated');
    const first = join(fixture.work, 'truncated-0');
    const res0 = await build(ctx, cacheDir, ['-o', `type=oci,dest=${first},tar=false`]);
    assert.equal(res0.code, 0, res0.stderr);
    const built = (await layersOf(first)).at(-1)!;
    const blob = cachePath(cacheDir, built.digest);
    await truncate(blob, Math.floor(built.size / 2));

    for (const output of [['type=oci', 'tar=true'], ['type=docker']]) {
      const dest = join(fixture.work, `truncated-${output[0]}.tar`);
      const res = await build(ctx, cacheDir, ['-o', [...output, `dest=${dest}`].join(',')]);
      assert.equal(res.code, 1, res.stderr);
      const error = errorOf(res.stderr);
      assert.equal(error?.code, 'CACHE_BLOB_CORRUPT', res.stderr);
      assert.match(String(error?.message), new RegExp(built.digest));
      assert.match(String(error?.message), /removed/);
      assert.ok(await gone(blob), 'the bad blob left the cache');
      assert.ok(await gone(dest), 'nothing was exported');
      // Damage the rebuilt blob again for the next output kind.
      const again = join(fixture.work, `truncated-again-${output[0]}`);
      const rebuilt = await build(ctx, cacheDir, ['-o', `type=oci,dest=${again},tar=false`]);
      assert.equal(rebuilt.code, 0, rebuilt.stderr);
      await assertLayoutSound(again);
      await truncate(blob, 10);
    }
  });

  it('fetches a truncated pulled layer again instead of exporting it', async () => {
    const { ctx, cacheDir } = await setup('pulled');
    const first = join(fixture.work, 'pulled-0');
    const res0 = await build(ctx, cacheDir, ['-o', `type=oci,dest=${first},tar=false`]);
    assert.equal(res0.code, 0, res0.stderr);
    const base = (await layersOf(first))[0]!;
    await truncate(cachePath(cacheDir, base.digest), Math.floor(base.size / 2));
    const dest = join(fixture.work, 'pulled-1');
    const res = await build(ctx, cacheDir, ['-o', `type=oci,dest=${dest},tar=false`]);
    assert.equal(res.code, 0, res.stderr);
    await assertLayoutSound(dest);
    assert.equal((await stat(cachePath(cacheDir, base.digest))).size, base.size);
  });

  it('refuses to push a built layer with a flipped byte and names the cache, not the registry', async () => {
    const { ctx, cacheDir } = await setup('flipped');
    const first = join(fixture.work, 'flipped-0');
    const res0 = await build(ctx, cacheDir, ['-o', `type=oci,dest=${first},tar=false`]);
    assert.equal(res0.code, 0, res0.stderr);
    const built = (await layersOf(first)).at(-1)!;
    const blob = cachePath(cacheDir, built.digest);
    const file = await open(blob, 'r+');
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, 1000);
    await file.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, 1000);
    await file.close();

    const tag = `${fixture.registry.host}/corrupt/flipped:1`;
    const push = await build(ctx, cacheDir, ['-t', tag, '--push']);
    assert.equal(push.code, 1, push.stderr);
    const error = errorOf(push.stderr);
    assert.equal(error?.code, 'CACHE_BLOB_CORRUPT', push.stderr);
    assert.match(String(error?.message), /removed/);
    assert.ok(await gone(blob), 'the bad blob left the cache');

    const again = await build(ctx, cacheDir, ['-t', tag, '--push']);
    assert.equal(again.code, 0, again.stderr);
  });
});
