/** Pulls exact byte counts out of a stream of chunks of any size. */
import { TarError } from '../errors.js';

export class ByteSource {
  private readonly iterator: AsyncIterator<Buffer | string>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** Bytes handed out (or skipped) so far; error messages give it as the offset. */
  position = 0;

  constructor(input: AsyncIterable<Buffer | string>) {
    this.iterator = input[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }

  /** Exactly `n` bytes; null at a clean end of input; a TAR_TRUNCATED error mid-way. */
  async readExact(n: number, what: string): Promise<Buffer | null> {
    while (this.buffered < n) {
      if (!(await this.pull())) {
        if (this.buffered === 0) return null;
        throw this.truncated(what);
      }
    }
    return this.take(n);
  }

  /** Between 1 and `max` bytes, or a TAR_TRUNCATED error when the input ends. */
  async readSome(max: number, what: string): Promise<Buffer> {
    while (this.buffered === 0) {
      if (!(await this.pull())) throw this.truncated(what);
    }
    return this.take(Math.min(max, this.chunks[0]!.length));
  }

  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.readSome(left, what)).length;
  }

  /** Reads and drops the rest of the input, so a producer piping into us is not left blocked. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (await this.pull()) {
      this.chunks = [];
      this.buffered = 0;
    }
  }

  /** Lets the input's iterator release its resources (a Readable is destroyed). */
  async close(): Promise<void> {
    await this.iterator.return?.();
  }

  private take(n: number): Buffer {
    this.position += n;
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    return out;
  }

  private truncated(what: string): TarError {
    return new TarError(
      'TAR_TRUNCATED',
      `tar stream ends in the middle of ${what} (after ${this.position + this.buffered} bytes)`,
    );
  }
}
