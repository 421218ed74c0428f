import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { blobPath } from './blob-writer.js';
import { createCompressor, decompress, sniffCompression } from './compress.js';
import { sha256Digest } from './digest.js';
import { writeLayerBlob } from './layer-blob.js';
import { MediaType } from './media-types.js';
import type { LayerEntry } from './tar/entry.js';
import { encodeTar } from './tar/tar-writer.js';

const data = Buffer.concat([randomBytes(100_000), Buffer.alloc(300_000, 7)]);

async function compress(options: Parameters<typeof createCompressor>[0]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(Readable.from([data]), createCompressor(options), async (source) => {
    for await (const chunk of source) chunks.push(chunk as Buffer);
  });
  return Buffer.concat(chunks);
}

describe('compression', () => {
  for (const options of [
    { compression: 'gzip' as const },
    { compression: 'gzip' as const, pigzThreads: 2 },
    { compression: 'zstd' as const },
    { compression: 'none' as const },
  ]) {
    it(`round-trips ${JSON.stringify(options)} and sniffs it back`, async () => {
      const packed = await compress(options);
      assert.equal(sniffCompression(packed), options.compression);
      assert.deepEqual(await buffer(decompress(Readable.from([packed]))), data);
    });
  }

  it('gives pigz output that has no timestamp and is the same on every run', async () => {
    const one = await compress({ compression: 'gzip', pigzThreads: 2 });
    const two = await compress({ compression: 'gzip', pigzThreads: 2 });
    assert.deepEqual(one, two);
    assert.equal(one.readUInt32LE(4), 0);
    assert.deepEqual(gunzipSync(one), data);
  });

  it('reports a failing zstd decompression as an error', async () => {
    const bogus = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(64)]);
    await assert.rejects(buffer(decompress(Readable.from([bogus]))));
  });

  it('writes a layer blob with diff ID, digest and size computed in one pass', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-blob-'));
    try {
      const entries: LayerEntry[] = [
        {
          entry: { path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3, mtimeNs: 0n },
          source: { kind: 'buffer', data: Buffer.from('abc') },
        },
      ];
      const tarChunks: Buffer[] = [];
      for await (const chunk of encodeTar(entries)) tarChunks.push(chunk);
      const tar = Buffer.concat(tarChunks);

      for (const compression of ['gzip', 'zstd', 'none'] as const) {
        const blob = await writeLayerBlob(entries, dir, { compression });
        const stored = await readFile(blobPath(dir, blob.digest));
        assert.equal(sha256Digest(stored), blob.digest);
        assert.equal(stored.length, blob.size);
        assert.equal(blob.diffId, sha256Digest(tar));
        assert.equal(blob.uncompressedSize, tar.length);
        assert.deepEqual(await buffer(decompress(Readable.from([stored]))), tar);
      }
      const docker = await writeLayerBlob(entries, dir, { compression: 'gzip', family: 'docker' });
      assert.equal(docker.mediaType, MediaType.dockerLayerGzip);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
