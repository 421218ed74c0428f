import { InputError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import { jsonRenderer } from './render/json-renderer.js';
import { plainRenderer } from './render/plain-renderer.js';
import { quietRenderer } from './render/quiet-renderer.js';
import { ttyRenderer } from './render/tty-renderer.js';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'json' | 'quiet';

/** Attaches the renderer `--progress` asks for to the bus; returns a function that flushes it. */
export function attachProgress(bus: EventBus, mode: string, err: NodeJS.WriteStream): () => void {
  const chosen = mode === 'auto' ? (err.isTTY ? 'tty' : 'plain') : mode;
  switch (chosen) {
    case 'json':
      bus.on(jsonRenderer(err));
      return () => {};
    case 'plain':
      bus.on(plainRenderer(err));
      return () => {};
    case 'quiet':
      bus.on(quietRenderer(err));
      return () => {};
    case 'tty': {
      const tty = ttyRenderer(err);
      bus.on(tty.render);
      return tty.finish;
    }
    default:
      throw new InputError('FLAG_INVALID', `--progress: unknown value "${mode}"`, {
        hint: 'valid values: auto, tty, plain, json, quiet',
      });
  }
}
