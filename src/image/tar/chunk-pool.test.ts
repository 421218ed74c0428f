import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { TarError } from '../errors.js';
import { ChunkPool, writeChunks } from './chunk-pool.js';

/** Chunks taken from the pool, each filled with its number, as a producer would hand them out. */
async function* produce(pool: ChunkPool, count: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) {
    const buffer = await pool.take();
    buffer.fill(i);
    yield i === count - 1 ? buffer.subarray(0, 3) : buffer;
  }
}

describe('ChunkPool', () => {
  it('lends its buffers and makes a taker wait until one is given back', async () => {
    const pool = new ChunkPool(16, 2);
    const a = await pool.take();
    const b = await pool.take();
    let given = false;
    const waiting = Promise.resolve(pool.take()).then((c) => {
      assert.ok(given, 'a buffer was taken before one came back');
      return c;
    });
    await new Promise((resolve) => setImmediate(resolve));
    given = true;
    pool.give(a.subarray(4, 8));
    const third = await waiting;
    assert.equal(third.buffer, a.buffer);
    assert.equal(third.length, 16);
    assert.notEqual(b.buffer, a.buffer);
    assert.throws(() => pool.give(Buffer.alloc(16)), RangeError);
  });

  it('fails waiting takers once aborted', async () => {
    const pool = new ChunkPool(16, 1);
    await pool.take();
    const waiting = pool.take();
    pool.abort(new Error('output gone'));
    await assert.rejects(Promise.resolve(waiting), /output gone/);
    await assert.rejects(Promise.resolve(pool.take()), /output gone/);
  });
});

describe('writeChunks', () => {
  it('writes every chunk in order with a few buffers and resolves after the last write', async () => {
    const pool = new ChunkPool(1024, 2);
    const seen: number[] = [];
    let hashed = 0;
    const out = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, callback) {
        seen.push(chunk[0]!, chunk.length);
        setTimeout(callback, 1);
      },
    });
    const { size } = await writeChunks(produce(pool, 6), out, pool, (c) => {
      hashed += c.length;
    });
    assert.equal(size, 5 * 1024 + 3);
    assert.equal(hashed, size);
    assert.deepEqual(seen, [0, 1024, 1, 1024, 2, 1024, 3, 1024, 4, 1024, 5, 3]);
  });

  it('rejects with the output error, even while the producer waits for a buffer', async () => {
    const pool = new ChunkPool(1024, 2);
    const out = new Writable({
      write(_chunk, _encoding, callback) {
        setImmediate(() => callback(new Error('disk full')));
      },
    });
    await assert.rejects(writeChunks(produce(pool, 100), out, pool), /disk full/);
  });

  it('rejects when the output is closed early', async () => {
    const pool = new ChunkPool(1024, 2);
    const out = new Writable({
      write(_chunk, _encoding, _callback) {
        // Never done: the output is destroyed while a write is pending.
        setImmediate(() => out.destroy());
      },
    });
    await assert.rejects(writeChunks(produce(pool, 100), out, pool), (err: unknown) => {
      return err instanceof TarError && err.code === 'TAR_OUTPUT_CLOSED';
    });
  });
});
