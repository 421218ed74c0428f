import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { blobPath } from './blob-writer.js';
import { createCompressor, decompress, sniffCompression, spawnFilterToFile } from './compress.js';
import { sha256Digest } from './digest.js';
import { ImageError, TarError } from './errors.js';
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

      for (const options of [
        { compression: 'gzip' as const },
        { compression: 'gzip' as const, pigzThreads: 2 },
        { compression: 'zstd' as const },
        { compression: 'none' as const },
      ]) {
        const blob = await writeLayerBlob(entries, dir, options);
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

  it('stores a layer of many chunks as the compressor alone would compress its tar', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-blob-'));
    try {
      const entries: LayerEntry[] = Array.from({ length: 24 }, (_, i) => {
        const content = i % 2 === 0 ? randomBytes(700_000) : Buffer.alloc(700_000, i);
        return {
          entry: {
            path: `f${i}`,
            type: 'file',
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 700_000,
            mtimeNs: 0n,
          },
          source: { kind: 'buffer', data: content },
        };
      });
      const tarChunks: Buffer[] = [];
      for await (const chunk of encodeTar(entries)) tarChunks.push(chunk);
      const tar = Buffer.concat(tarChunks);
      for (const options of [
        { compression: 'gzip' as const, pigzThreads: 2 },
        { compression: 'gzip' as const },
      ]) {
        const expected: Buffer[] = [];
        await pipeline(Readable.from([tar]), createCompressor(options), async (source) => {
          for await (const chunk of source) expected.push(chunk as Buffer);
        });
        const blob = await writeLayerBlob(entries, dir, options);
        assert.equal(blob.digest, sha256Digest(Buffer.concat(expected)));
        assert.equal(blob.diffId, sha256Digest(tar));
        assert.equal(blob.uncompressedSize, tar.length);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops the compressor and leaves no temp file when a file changes mid-layer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-blob-'));
    try {
      const path = join(dir, 'grows');
      await writeFile(path, randomBytes(3_000_001));
      const entries: LayerEntry[] = [
        {
          entry: {
            path: 'big',
            type: 'file',
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 5_000_000,
            mtimeNs: 0n,
          },
          source: { kind: 'buffer', data: randomBytes(5_000_000) },
        },
        {
          entry: {
            path: 'grows',
            type: 'file',
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 3_000_000,
            mtimeNs: 0n,
          },
          source: { kind: 'file', path },
        },
      ];
      await assert.rejects(
        writeLayerBlob(entries, join(dir, 'blobs'), { compression: 'gzip', pigzThreads: 2 }),
        (err: unknown) => err instanceof TarError && err.code === 'TAR_FILE_CHANGED',
      );
      assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a filter program writing to a file that fails, with its stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-blob-'));
    const file = await open(join(dir, 'out'), 'w');
    try {
      const ok = spawnFilterToFile('cat', [], file.fd);
      ok.input.end(data);
      await ok.finished;
      assert.deepEqual(await readFile(join(dir, 'out')), data);

      const failing = spawnFilterToFile('sh', ['-c', 'echo broken >&2; exit 3'], file.fd);
      failing.input.end(data);
      await assert.rejects(
        failing.finished,
        (err: unknown) =>
          err instanceof ImageError &&
          err.code === 'IMAGE_COMPRESSOR_FAILED' &&
          /exit code 3: broken/.test(err.message),
      );
    } finally {
      await file.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
