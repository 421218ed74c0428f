/**
 * A fixed set of equal buffers that a producer fills and a writer gives back once the bytes are
 * out, so streaming a layer of any size holds the same few megabytes, and no buffer is allocated
 * (and collected) per chunk.
 */
import type { Writable } from 'node:stream';
import { TarError } from '../errors.js';

export class ChunkPool {
  private readonly free: Buffer[] = [];
  private readonly owned = new Set<ArrayBufferLike>();
  private readonly waiting: Array<{ resolve: (b: Buffer) => void; reject: (e: Error) => void }> =
    [];
  private failure: Error | undefined;

  constructor(
    readonly chunkSize: number,
    count: number,
  ) {
    // allocUnsafeSlow: each buffer owns its whole ArrayBuffer, so give() can find it again from
    // any part of it.
    for (let i = 0; i < count; i++) {
      const buffer = Buffer.allocUnsafeSlow(chunkSize);
      this.owned.add(buffer.buffer);
      this.free.push(buffer);
    }
  }

  /** An empty buffer; waits while every buffer is lent out. */
  take(): Buffer | Promise<Buffer> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const buffer = this.free.pop();
    if (buffer !== undefined) return buffer;
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Returns a taken buffer, or a part of one. */
  give(chunk: Buffer): void {
    if (!this.owned.has(chunk.buffer)) {
      throw new RangeError('ChunkPool.give: the buffer did not come from this pool');
    }
    const whole = Buffer.from(chunk.buffer, 0, this.chunkSize);
    const taker = this.waiting.shift();
    if (taker === undefined) this.free.push(whole);
    else taker.resolve(whole);
  }

  /** Fails every waiting and later take(), for when the buffers will never come back. */
  abort(err: Error): void {
    this.failure ??= err;
    for (const taker of this.waiting.splice(0)) taker.reject(this.failure);
  }
}

/**
 * Writes chunks taken from `pool` to `out` (not ended afterwards), giving each back when `out`
 * is done with it; that bounds what is buffered, so no 'drain' is awaited. `each` sees every
 * chunk before it is written (to hash it). Resolves once `out` has taken every chunk; an error
 * or early close of `out` rejects.
 */
export async function writeChunks(
  chunks: AsyncIterable<Buffer>,
  out: Writable,
  pool: ChunkPool,
  each?: (chunk: Buffer) => void,
): Promise<{ size: number }> {
  let failure: Error | undefined;
  let pending = 0;
  let settled: (() => void) | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    pool.abort(failure);
    settled?.();
  };
  const onClose = () => fail(new TarError('TAR_OUTPUT_CLOSED', 'the tar output was closed early'));
  out.on('error', fail);
  out.on('close', onClose);

  let size = 0;
  try {
    for await (const chunk of chunks) {
      if (out.destroyed) onClose();
      if (failure !== undefined) throw failure;
      each?.(chunk);
      size += chunk.length;
      pending++;
      out.write(chunk, (err) => {
        pending--;
        if (err) fail(err);
        else pool.give(chunk);
        if (pending === 0) settled?.();
      });
    }
    if (pending > 0 && failure === undefined) {
      await new Promise<void>((resolve) => {
        settled = resolve;
      });
    }
    if (failure !== undefined) throw failure;
    return { size };
  } catch (err) {
    throw failure ?? err;
  } finally {
    out.off('error', fail);
    out.off('close', onClose);
  }
}
