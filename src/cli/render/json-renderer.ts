import type { KilnEvent } from '../../events/events.js';

/** `--progress=json`: one JSON object per line, exactly the event as the engine emitted it. */
export function jsonRenderer(out: NodeJS.WritableStream): (event: KilnEvent) => void {
  return (event) => {
    out.write(`${JSON.stringify(event)}\n`);
  };
}
