import { InputError } from '../errors.js';
import { type ExecutorFlag, findFlag, findShortFlag } from './executor-flags.js';

/** Parsed executor flags: the last value of scalars, every value of lists and maps. */
export interface ExecutorArgs {
  strings: Map<string, string>;
  bools: Map<string, boolean>;
  lists: Map<string, string[]>;
  /** Flags the user gave, by canonical name, in the order first seen. */
  given: string[];
  /** Operands (kaniko takes none). */
  operands: string[];
}

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

/** Go's time.ParseDuration units, in nanoseconds. */
const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parses a Go duration (`336h0m0s`, `1.5h`, `90s`) into milliseconds; undefined if invalid. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const body = text.replace(/^[+-]/, '');
  const parts = /^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/.test(body)
    ? [...body.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)]
    : [];
  if (parts.length === 0) return undefined;
  let nanos = 0;
  for (const [, num, unit] of parts) nanos += Number(num) * (DURATION_UNITS[unit as string] ?? 0);
  return (text.startsWith('-') ? -nanos : nanos) / 1e6;
}

function parseBool(flag: ExecutorFlag, value: string): boolean {
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw usage(`invalid argument "${value}" for "--${flag.name}" flag: not a boolean`);
}

function usage(message: string): InputError {
  return new InputError('FLAG_INVALID', message, { hint: 'see kiln executor --help' });
}

function store(args: ExecutorArgs, flag: ExecutorFlag, value: string | undefined): void {
  const name = flag.replacedBy ?? flag.name;
  if (!args.given.includes(flag.name)) args.given.push(flag.name);
  if (flag.kind === 'bool') {
    args.bools.set(name, value === undefined ? true : parseBool(flag, value));
    return;
  }
  const v = value as string;
  if (flag.kind === 'int' && !/^[+-]?\d+$/.test(v)) {
    throw usage(`invalid argument "${v}" for "--${flag.name}" flag: not an integer`);
  }
  if (flag.kind === 'duration' && parseGoDuration(v) === undefined) {
    throw usage(`invalid argument "${v}" for "--${flag.name}" flag: not a duration like 6h`);
  }
  if (flag.kind === 'list' || flag.kind === 'map') {
    // kaniko's map flags (registry-map) take several entries separated by ';'.
    const items = flag.kind === 'map' ? v.split(';').filter((i) => i !== '') : [v];
    for (const item of flag.kind === 'map' ? items : []) {
      if (!item.includes('=')) {
        throw usage(`invalid argument "${item}" for "--${flag.name}" flag: want KEY=VALUE`);
      }
    }
    args.lists.set(name, [...(args.lists.get(name) ?? []), ...items]);
    return;
  }
  args.strings.set(name, v);
}

function unknownFlag(text: string): InputError {
  return new InputError('FLAG_UNKNOWN', `unknown flag: ${text}`, {
    hint: 'kiln executor takes the flags of the kaniko 1.23 executor; see kiln executor --help',
  });
}

/**
 * Parses arguments the way Go's pflag does for the kaniko executor: `--flag=value` and
 * `--flag value`, booleans as `--flag` or `--flag=false` (never taking the next argument),
 * shorthands as `-d value`, `-dvalue` or `-d=value`, and `--` ending the flags.
 */
export function parseExecutorArgs(argv: readonly string[]): ExecutorArgs {
  const args: ExecutorArgs = {
    strings: new Map(),
    bools: new Map(),
    lists: new Map(),
    given: [],
    operands: [],
  };
  let i = 0;
  const next = (shown: string): string => {
    if (i >= argv.length) throw usage(`flag needs an argument: ${shown}`);
    return argv[i++] as string;
  };

  while (i < argv.length) {
    const arg = argv[i++] as string;
    if (arg === '--') {
      args.operands.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const flag = findFlag(name);
      if (!flag) throw unknownFlag(`--${name}`);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      const value = inline ?? (flag.kind === 'bool' ? undefined : next(`--${name}`));
      store(args, flag, value);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      parseShorts(arg, args, (flag) => next(`'${flag.short}' in ${arg}`));
      continue;
    }
    args.operands.push(arg);
  }
  return args;
}

function parseShorts(arg: string, args: ExecutorArgs, next: (flag: ExecutorFlag) => string): void {
  let rest = arg.slice(1);
  while (rest.length > 0) {
    const letter = rest[0] as string;
    const flag = findShortFlag(letter);
    if (!flag) throw unknownFlag(`'${letter}' in ${arg}`);
    rest = rest.slice(1);
    if (flag.kind === 'bool') {
      if (rest.startsWith('=')) {
        store(args, flag, rest.slice(1));
        return;
      }
      store(args, flag, undefined);
      continue;
    }
    if (rest.startsWith('=')) rest = rest.slice(1);
    store(args, flag, rest.length > 0 ? rest : next(flag));
    return;
  }
}
