import type { Hash } from 'node:crypto';

/** Text is handed to the hash in pieces of about this many characters. */
const FLUSH_AT = 1 << 16;

/**
 * Feeds a hash its input in order when some pieces (digests of files still being read) arrive
 * later than the text after them. While nothing is pending, text goes straight to the hash in
 * batches, so a walk of 50,000 cached files makes a few hundred update() calls, not 100,000.
 */
export class OrderedHashFeed {
  private text = '';
  /** Text and pending pieces after the first pending one, in order. */
  private readonly queue: (string | Promise<string>)[] = [];
  private pending = 0;

  constructor(
    private readonly hash: Hash,
    /** How many pieces may be pending before add waits for the oldest. */
    private readonly limit = 4,
  ) {}

  add(text: string): void {
    if (this.queue.length === 0) {
      this.text += text;
      if (this.text.length >= FLUSH_AT) this.flushText();
      return;
    }
    const last = this.queue.length - 1;
    const tail = this.queue[last];
    if (typeof tail === 'string') this.queue[last] = tail + text;
    else this.queue.push(text);
  }

  /** Appends a piece still being computed; waits while more than `limit` are. */
  async addLater(piece: Promise<string>): Promise<void> {
    this.flushText();
    // Rejections surface when the piece is awaited below or in finish(), not as unhandled.
    piece.catch(() => {});
    this.queue.push(piece);
    this.pending++;
    while (this.pending > this.limit) await this.feedToFirstPending();
  }

  /** Feeds everything, waiting for pending pieces. */
  async finish(): Promise<void> {
    this.flushText();
    while (this.queue.length > 0) await this.feedToFirstPending();
  }

  private flushText(): void {
    if (this.text === '') return;
    this.hash.update(this.text);
    this.text = '';
  }

  private async feedToFirstPending(): Promise<void> {
    while (this.queue.length > 0) {
      const item = this.queue.shift()!;
      if (typeof item === 'string') {
        this.hash.update(item);
        continue;
      }
      this.pending--;
      this.hash.update(await item);
      return;
    }
  }
}
