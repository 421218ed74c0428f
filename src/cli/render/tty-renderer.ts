import type { KilnEvent } from '../../events/events.js';

interface StepView {
  name: string;
  status: string;
  started: number;
  duration?: number;
  lines: string[];
}

const SHOWN_LOG_LINES = 6;

/**
 * `--progress=tty`: a live view redrawn in place: finished steps with their durations or CACHED,
 * and under each running step its last log lines. Redraws are throttled to 10 per second.
 */
export function ttyRenderer(out: NodeJS.WriteStream): {
  render: (event: KilnEvent) => void;
  finish: () => void;
} {
  const steps = new Map<string, StepView>();
  const messages: string[] = [];
  let drawnLines = 0;
  let timer: NodeJS.Timeout | undefined;

  const draw = (): void => {
    timer = undefined;
    const width = out.columns || 100;
    const lines: string[] = [];
    let n = 0;
    for (const step of steps.values()) {
      n++;
      const seconds = ((step.duration ?? Date.now() - step.started) / 1000).toFixed(1);
      const mark =
        step.status === 'cached'
          ? 'CACHED'
          : step.status === 'started'
            ? `${seconds}s`
            : `${step.status} ${seconds}s`;
      lines.push(clip(` => [${n}] ${step.name}  ${mark}`, width));
      if (step.status === 'started' || step.status === 'error') {
        for (const l of step.lines.slice(-SHOWN_LOG_LINES)) lines.push(clip(`    ${l}`, width));
      }
    }
    lines.push(...messages.map((m) => clip(m, width)));
    let text = drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[J` : '';
    text += lines.map((l) => `${l}\n`).join('');
    out.write(text);
    drawnLines = lines.length;
  };
  const schedule = (): void => {
    if (!timer) timer = setTimeout(draw, 100);
  };

  const render = (event: KilnEvent): void => {
    if (event.type === 'step') {
      const view = steps.get(event.id) ?? {
        name: event.name,
        status: event.status,
        started: Date.now(),
        lines: [],
      };
      view.status = event.status;
      if (event.duration_ms !== undefined) view.duration = event.duration_ms;
      if (event.status === 'cached') view.duration = 0;
      steps.set(event.id, view);
    } else if (event.type === 'log') {
      const view = steps.get(event.id);
      if (view) view.lines.push(...event.data.split('\n').filter((l) => l !== ''));
      if (view && view.lines.length > 50) view.lines.splice(0, view.lines.length - 50);
    } else if (event.type === 'error') {
      const where = event.file ? `${event.file}:${event.line ?? 0}:${event.column ?? 0}: ` : '';
      messages.push(`ERROR: ${where}${event.message}`);
      if (event.hint) messages.push(`  hint: ${event.hint}`);
    } else if (event.type === 'warning') {
      messages.push(`WARNING: ${event.message}`);
    } else if (event.type === 'result' && event.digest) {
      messages.push(`writing image ${event.config_digest ?? event.digest} done`);
    }
    schedule();
  };

  const finish = (): void => {
    if (timer) clearTimeout(timer);
    draw();
  };
  return { render, finish };
}

function clip(line: string, width: number): string {
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}
