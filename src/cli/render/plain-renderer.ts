import type { KilnEvent } from '../../events/events.js';

/**
 * `--progress=plain`: line-oriented output for CI logs. Steps are numbered in the order they start,
 * so interleaved logs of parallel steps stay attributable (`#3 ...`).
 */
export function plainRenderer(out: NodeJS.WritableStream): (event: KilnEvent) => void {
  const numbers = new Map<string, number>();
  const numberOf = (id: string): number => {
    let n = numbers.get(id);
    if (n === undefined) {
      n = numbers.size + 1;
      numbers.set(id, n);
    }
    return n;
  };
  const partial = new Map<string, string>();

  return (event) => {
    switch (event.type) {
      case 'step': {
        const n = numberOf(event.id);
        const seconds =
          event.duration_ms === undefined ? '' : ` ${(event.duration_ms / 1000).toFixed(1)}s`;
        if (event.status === 'started') out.write(`#${n} ${event.name}\n`);
        else if (event.status === 'cached') out.write(`#${n} ${event.name}\n#${n} CACHED\n`);
        else {
          const rest = partial.get(event.id);
          if (rest) out.write(`#${n} ${rest}\n`);
          partial.delete(event.id);
          out.write(`#${n} ${event.status.toUpperCase()}${seconds}\n`);
        }
        break;
      }
      case 'log': {
        const n = numberOf(event.id);
        const text = (partial.get(event.id) ?? '') + event.data;
        const lines = text.split('\n');
        partial.set(event.id, lines.pop() ?? '');
        for (const line of lines) out.write(`#${n} ${line}\n`);
        break;
      }
      case 'warning':
        out.write(`WARNING: ${formatLocation(event)}${event.message}\n`);
        break;
      case 'error':
        out.write(`ERROR: ${formatLocation(event)}${event.message}\n`);
        if (event.hint) out.write(`  hint: ${event.hint}\n`);
        break;
      case 'result': {
        // Docker names the image by its ID, the config digest (what --iidfile holds).
        const id = event.config_digest ?? event.digest;
        if (event.digest && id) out.write(`writing image ${id} done\n`);
        for (const name of event.names) out.write(`naming to ${name} done\n`);
        break;
      }
    }
  };
}

function formatLocation(e: { file?: string; line?: number; column?: number }): string {
  if (e.file === undefined) return '';
  const line = e.line === undefined ? '' : `:${e.line}`;
  const column = e.column === undefined || e.line === undefined ? '' : `:${e.column}`;
  return `${e.file}${line}${column}: `;
}
