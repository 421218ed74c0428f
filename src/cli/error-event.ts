import { KilnError } from '../errors.js';
import type { ErrorEvent } from '../events/events.js';

/** The `error` event for any failure; unexpected exceptions keep their message, code INTERNAL. */
export function errorEvent(err: unknown): ErrorEvent {
  if (err instanceof KilnError) {
    return {
      type: 'error',
      code: err.code,
      message: err.message,
      ...(err.location
        ? { file: err.location.file, line: err.location.line, column: err.location.column }
        : {}),
      ...(err.hint ? { hint: err.hint } : {}),
    };
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { type: 'error', code: 'INTERNAL', message };
}
