import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobStore } from '../cache/blob-store.js';
import { silentBus } from '../events/event-bus.js';
import { writeLayerBlob } from '../image/layer-blob.js';
import { MediaType } from '../image/media-types.js';
import type { RegistryClient } from '../registry/index.js';
import type { LayerInfo } from '../solver/stage-result.js';
import { convertLayers } from './convert-layers.js';
import type { ExportContext } from './export-context.js';
import { OutputStaging } from './output-staging.js';

describe('convertLayers', () => {
  let dir: string;
  let ctx: ExportContext;
  let layer: LayerInfo;

  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kiln-convert-'));
    const blobs = new BlobStore(dir);
    await blobs.init();
    const data = Buffer.alloc(300_000, 'kiln ');
    const entries = [
      {
        entry: { path: 'a.txt', type: 'file' as const, mode: 0o644, uid: 0, gid: 0 },
        source: { kind: 'buffer' as const, data },
      },
    ].map((e) => ({ ...e, entry: { ...e.entry, size: data.length, mtimeNs: 0n } }));
    const blob = await writeLayerBlob(entries, path.join(dir, 'blobs'), { compression: 'gzip' });
    layer = {
      diffId: blob.diffId,
      descriptor: { mediaType: blob.mediaType, digest: blob.digest, size: blob.size },
      sourceRepository: 'registry.test/base',
    };
    ctx = {
      bus: silentBus(),
      blobs,
      client: {} as RegistryClient,
      scratchDir: path.join(dir, 'tmp'),
      fetchLayer: async () => {},
      canChown: false,
      staging: new OutputStaging(),
      signal: new AbortController().signal,
    };
  });
  after(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('keeps a layer that already has the wanted compression, source repository included', async () => {
    const [same] = await convertLayers([layer], { compression: 'gzip', force: false }, ctx);
    assert.equal(same, layer);
  });

  it('recompresses to zstd with the OCI zstd type, and the blob decompresses to the diff ID', async () => {
    const [zstd] = await convertLayers([layer], { compression: 'zstd', force: false }, ctx);
    assert.equal(zstd!.descriptor.mediaType, MediaType.ociLayerZstd);
    assert.equal(zstd!.diffId, layer.diffId);
    assert.equal(zstd!.sourceRepository, undefined, 'a new blob is not in the source registry');
    const file = ctx.blobs.pathOf(zstd!.descriptor.digest);
    assert.equal((await fsp.stat(file)).size, zstd!.descriptor.size);
    const tar = execFileSync('zstd', ['-d', '-c', file]);
    assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, layer.diffId);
  });

  it('stores an uncompressed layer under its diff ID', async () => {
    const [plain] = await convertLayers([layer], { compression: 'none', force: false }, ctx);
    assert.equal(plain!.descriptor.digest, layer.diffId);
    assert.equal(plain!.descriptor.mediaType, MediaType.ociLayer);
  });

  it('reuses the blob of an earlier conversion, and redoes it when the blob was pruned', async () => {
    const wanted = { compression: 'zstd' as const, level: 5, force: false };
    const [first] = await convertLayers([layer], wanted, ctx);
    const file = ctx.blobs.pathOf(first!.descriptor.digest);
    const before = (await fsp.stat(file)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const [second] = await convertLayers([layer], wanted, ctx);
    assert.deepEqual(second, first);
    assert.equal((await fsp.stat(file)).mtimeMs, before, 'the blob was not written again');

    await fsp.rm(file);
    const [third] = await convertLayers([layer], wanted, ctx);
    assert.deepEqual(third, first);
    assert.ok(await ctx.blobs.has(first!.descriptor.digest));
  });

  it('recompresses a layer of the wanted compression when forced, at the given level', async () => {
    const [forced] = await convertLayers(
      [layer],
      { compression: 'gzip', level: 1, force: true },
      ctx,
    );
    assert.notEqual(forced!.descriptor.digest, layer.descriptor.digest);
    assert.equal(forced!.descriptor.mediaType, MediaType.ociLayerGzip);
    const tar = execFileSync('gzip', ['-d', '-c', ctx.blobs.pathOf(forced!.descriptor.digest)]);
    assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, layer.diffId);
  });

  it('refuses a blob that does not decompress to its diff ID', async () => {
    const wrong = { ...layer, diffId: `sha256:${'0'.repeat(64)}` };
    await assert.rejects(
      convertLayers([wrong], { compression: 'zstd', force: false }, ctx),
      /diff ID/,
    );
  });
});
