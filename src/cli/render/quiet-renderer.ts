import type { KilnEvent } from '../../events/events.js';

/** `--progress=quiet`: only errors and warnings, so a failing CI job still says why. */
export function quietRenderer(out: NodeJS.WritableStream): (event: KilnEvent) => void {
  return (event) => {
    if (event.type === 'error') {
      const where = event.file ? `${event.file}:${event.line ?? 0}:${event.column ?? 0}: ` : '';
      out.write(`ERROR: ${where}${event.message}\n`);
      if (event.hint) out.write(`  hint: ${event.hint}\n`);
    } else if (event.type === 'warning') {
      out.write(`WARNING: ${event.message}\n`);
    }
  };
}
