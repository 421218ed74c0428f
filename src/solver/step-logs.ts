import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EventBus } from '../events/event-bus.js';

/**
 * Keeps the whole output of every running step on disk under `<cacheDir>/logs/`, because
 * renderers show only the last lines. The file of a step that succeeded is removed; the file of a
 * failed step stays and its path goes into the error's hint.
 */
export class StepLogs {
  private readonly files = new Map<string, fs.WriteStream>();
  private readonly dir: string;

  constructor(cacheDir: string, bus: EventBus) {
    this.dir = path.join(cacheDir, 'logs');
    bus.on((event) => {
      if (event.type === 'log') this.streamFor(event.id).write(event.data);
      else if (event.type === 'step' && (event.status === 'done' || event.status === 'cached')) {
        this.discard(event.id);
      }
    });
  }

  /** The path of a step's log, when it printed anything. */
  pathOf(id: string): string | undefined {
    return this.files.get(id)?.path.toString();
  }

  /** Flushes every open log; the ones still open belong to failed or canceled steps. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.files.values()].map((s) => new Promise<void>((resolve) => s.end(resolve))),
    );
  }

  private streamFor(id: string): fs.WriteStream {
    let stream = this.files.get(id);
    if (!stream) {
      fs.mkdirSync(this.dir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const file = path.join(
        this.dir,
        `${stamp}-${process.pid}-${id.replace(/[^\w.-]/g, '_')}.log`,
      );
      stream = fs.createWriteStream(file);
      this.files.set(id, stream);
    }
    return stream;
  }

  private discard(id: string): void {
    const stream = this.files.get(id);
    if (!stream) return;
    this.files.delete(id);
    const file = stream.path.toString();
    stream.end(() => fs.rm(file, { force: true }, () => {}));
  }
}
