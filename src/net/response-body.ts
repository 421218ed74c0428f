/**
 * The body of an HTTP response: a Readable with the helpers callers need (text(), json(),
 * buffer(), dump()). Its idle timeout runs only while the reader is asking for data, so a server
 * that goes silent fails the body with HTTP_BODY_TIMEOUT but a slow reader (a disk, a hash) is
 * never timed out. A connection lost before the end fails the body (ECONNRESET) instead of ending
 * it short.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { NetworkError } from '../errors.js';

/**
 * dump() reads at most this much to keep the connection for the next request; a larger body is
 * cheaper to drop with its connection than to download for nothing.
 */
const DUMP_LIMIT = 256 * 1024;

/** What buffer(), text() and json() hold at most unless told otherwise: JSON answers are small. */
export const BUFFER_LIMIT = 8 * 1024 * 1024;

export class ResponseBody extends Readable {
  private readonly source: IncomingMessage;
  private readonly idleMs: number;
  private readonly host: string;
  private timer: NodeJS.Timeout | undefined;

  /** `idleMs` 0 disables the idle timeout. */
  constructor(source: IncomingMessage, idleMs: number, host: string) {
    super();
    this.source = source;
    this.idleMs = idleMs;
    this.host = host;
    source.on('data', (chunk: Buffer) => {
      this.disarm();
      if (this.destroyed) return;
      if (this.push(chunk)) this.arm();
      else source.pause();
    });
    source.on('end', () => {
      this.disarm();
      this.push(null);
    });
    source.on('error', (err) => this.destroy(NetworkError.from(err)));
    source.pause();
  }

  /**
   * The whole body, held in memory: more than `limit` bytes drops the connection and fails with
   * HTTP_BODY_TOO_LARGE, so a server that never stops sending cannot exhaust the memory.
   */
  async buffer(limit = BUFFER_LIMIT): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        this.destroy();
        throw new NetworkError(
          'HTTP_BODY_TOO_LARGE',
          `the answer of ${this.host} is larger than ${limit} bytes`,
        );
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** The whole body as UTF-8 text (at most `limit` bytes, as buffer()). */
  async text(limit = BUFFER_LIMIT): Promise<string> {
    return (await this.buffer(limit)).toString('utf8');
  }

  /** The whole body parsed as JSON (a SyntaxError when it is not; at most `limit` bytes). */
  async json(limit = BUFFER_LIMIT): Promise<unknown> {
    return JSON.parse(await this.text(limit));
  }

  /**
   * Discards the body so the connection can serve the next request; a large body closes the
   * connection instead. Never fails: a body nobody wants has no error worth reporting.
   */
  dump(): Promise<void> {
    if (this.destroyed || this.readableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      let seen = 0;
      this.on('error', () => {});
      this.once('close', () => resolve());
      this.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > DUMP_LIMIT) this.destroy();
      });
    });
  }

  override _read(): void {
    this.source.resume();
    this.arm();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.disarm();
    // Destroying an unfinished response closes its connection; a finished one stays pooled.
    if (!this.source.complete) this.source.destroy();
    callback(err);
  }

  private arm(): void {
    if (this.idleMs <= 0 || this.timer || this.readableEnded) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.destroy(
        new NetworkError(
          'HTTP_BODY_TIMEOUT',
          `${this.host} sent no response data for ${this.idleMs} ms`,
        ),
      );
    }, this.idleMs);
  }

  private disarm(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
