/**
 * Hashes a file while another process appends to it, reading behind the writer. A compressor
 * program (pigz) writes a layer blob's temp file itself; hashing that file only once pigz has
 * exited left a read and sha256 of the whole blob after it, with the other cores idle (about
 * 0.5 s of CPU for a 565 MB blob). Reading behind it does that work while pigz still compresses.
 *
 * The writer only appends (pigz and zstd write their output in order and never seek), so every
 * byte read below the current end of the file is final.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';

/** How long to wait before looking again when the reader has caught up with the writer. */
const POLL_MS = 10;
const READ_SIZE = 1024 * 1024;

export class FileFollower {
  private readonly hash = createHash('sha256');
  /** Bytes hashed so far: the offset of the next read. */
  hashed = 0;
  private writerDone = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;

  private constructor(private readonly handle: FileHandle) {
    this.loop = this.follow();
    // A failed read is reported by finish(); stop() does not care.
    this.loop.catch(() => {});
  }

  /** Starts following `path`, which must exist (the writer's temp file). */
  static async start(path: string): Promise<FileFollower> {
    return new FileFollower(await open(path, 'r'));
  }

  private async follow(): Promise<void> {
    const buffer = Buffer.allocUnsafeSlow(READ_SIZE);
    try {
      for (;;) {
        // Taken before the read: a read that returns nothing after the writer has finished is
        // the end of the file, one before it only means the reader caught up.
        const last = this.writerDone;
        if (this.stopped) return;
        const { bytesRead } = await this.handle.read(buffer, 0, READ_SIZE, this.hashed);
        if (bytesRead > 0) {
          this.hash.update(buffer.subarray(0, bytesRead));
          this.hashed += bytesRead;
        } else if (last) {
          return;
        } else {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, POLL_MS);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = undefined;
        }
      }
    } finally {
      await this.handle.close();
    }
  }

  /** Once the writer has exited: hashes the rest of the file; its digest and size. */
  async finish(): Promise<{ digest: string; size: number }> {
    this.writerDone = true;
    this.wake?.();
    await this.loop;
    return { digest: `sha256:${this.hash.digest('hex')}`, size: this.hashed };
  }

  /** Stops reading (the write failed) and closes the file. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop.catch(() => {});
  }
}
