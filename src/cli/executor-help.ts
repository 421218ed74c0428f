import { EXECUTOR_FLAGS } from './executor-flags.js';

/**
 * `kiln executor --help`: kaniko's visible flags laid out like cobra's help, each accepted flag
 * kiln does not act on marked as such.
 */
export function executorHelp(): string {
  const rows = EXECUTOR_FLAGS.filter((f) => !f.hidden).map((f) => {
    const type = f.kind === 'bool' ? '' : ` ${f.kind === 'list' ? 'stringArray' : f.kind}`;
    const names = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${type}`;
    const def = f.default === undefined || f.default === false ? '' : ` (default ${f.default})`;
    const note = f.ignored ? ' [accepted, no effect]' : '';
    return `  ${names.padEnd(42)} ${f.help}${def}${note}`;
  });
  return [
    'Usage: kiln executor [flags]',
    '',
    'Build an image with the flags of the kaniko executor.',
    '',
    'Flags:',
    ...rows,
    '',
  ].join('\n');
}
