import { DockerfileError, type SourceLocation } from '../../errors.js';
import type { HealthConfig } from '../../image/oci-types.js';
import type { Expander } from './expand.js';
import { isSignal } from './signal-names.js';
import { type StageState, setEnv } from './stage-state.js';

/**
 * The instructions that change only the image config. Each adds a history entry without a layer,
 * worded as BuildKit words it, and sees the variables from before the instruction.
 */

function history(state: StageState, createdBy: string): void {
  state.history.push({ createdBy });
}

/** A key and value as written, and where each stands (for expansion errors). */
export type LocatedPair = [
  key: string,
  value: string,
  keyAt?: SourceLocation,
  valueAt?: SourceLocation,
];

export function dispatchEnv(state: StageState, x: Expander, pairs: LocatedPair[]): void {
  const expanded = pairs.map(([k, v, kAt, vAt]) => [x.word(k, kAt), x.word(v, vAt)] as const);
  let env = state.config.Env ?? [];
  for (const [k, v] of expanded) {
    env = setEnv(env, k, v);
    state.argsOverEnv?.delete(k);
  }
  state.config.Env = env;
  history(state, `ENV ${expanded.map(([k, v]) => `${k}=${v}`).join(' ')}`);
}

export function dispatchLabel(state: StageState, x: Expander, pairs: LocatedPair[]): void {
  // The stage owns its config (a copy of the base's): update in place, copying per
  // instruction made a Dockerfile with thousands of LABELs quadratic.
  state.config.Labels ??= {};
  const labels = state.config.Labels;
  const shown: string[] = [];
  for (const [k, v, kAt, vAt] of pairs) {
    const key = x.word(k, kAt);
    const value = x.word(v, vAt);
    labels[key] = value;
    shown.push(`${key}=${value}`);
  }
  state.config.Labels = labels;
  history(state, `LABEL ${shown.join(' ')}`);
}

export function dispatchUser(state: StageState, x: Expander, user: string): void {
  state.config.User = x.word(user);
  history(state, `USER ${state.config.User}`);
}

export function dispatchExpose(
  state: StageState,
  x: Expander,
  ports: string[],
  at: (i: number) => SourceLocation,
): void {
  state.config.ExposedPorts ??= {};
  const exposed = state.config.ExposedPorts;
  const these = new Set<string>();
  const words = ports.flatMap((p, i) => x.words(p, at(i)).map((raw) => [raw, at(i)] as const));
  for (const [raw, loc] of words) {
    const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(raw);
    if (!match) throw new DockerfileError('EXPOSE_INVALID', `EXPOSE: invalid port "${raw}"`, loc);
    const proto = (match[3] ?? 'tcp').toLowerCase();
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    // Docker reads each end as a 16-bit number and refuses a range that runs backwards.
    if (first > 65535 || last > 65535) {
      const message = `EXPOSE: invalid port "${raw}": a port is at most 65535`;
      throw new DockerfileError('EXPOSE_INVALID', message, loc);
    }
    if (last < first) {
      const message = `EXPOSE: invalid range specified for port: ${raw}`;
      throw new DockerfileError('EXPOSE_INVALID', message, loc);
    }
    for (let port = first; port <= last; port++) {
      exposed[`${port}/${proto}`] = {};
      these.add(`${port}/${proto}`);
    }
  }
  // The history line names this instruction's ports only (Go's %v of a map: sorted keys).
  const keys = [...these].sort();
  history(state, `EXPOSE map[${keys.map((k) => `${k}:{}`).join(' ')}]`);
}

/** The argv a CMD/ENTRYPOINT/RUN stands for: exec form as written, shell form through SHELL. */
export function commandLine(state: StageState, args: string[], json: boolean): string[] {
  if (json) return args;
  const shell = state.config.Shell ?? ['/bin/sh', '-c'];
  return [...shell, args.join(' ')];
}

export function dispatchCmd(state: StageState, args: string[], json: boolean): void {
  state.config.Cmd = commandLine(state, args, json);
  state.cmdSet = true;
  history(state, `CMD ${goSliceQuote(state.config.Cmd)}`);
}

export function dispatchEntrypoint(state: StageState, args: string[], json: boolean): void {
  state.config.Entrypoint = json || args.length > 0 ? commandLine(state, args, json) : null;
  // An ENTRYPOINT clears a CMD inherited from the base image, but not one set in this stage.
  if (!state.cmdSet) state.config.Cmd = null;
  history(state, `ENTRYPOINT ${goSliceQuote(state.config.Entrypoint ?? [])}`);
}

export function dispatchVolume(
  state: StageState,
  x: Expander,
  paths: string[],
  at: (i: number) => SourceLocation,
): void {
  state.config.Volumes ??= {};
  const volumes = state.config.Volumes;
  for (const [i, p] of paths.entries()) {
    const v = x.word(p, at(i));
    if (v.trim() === '') {
      const message = 'VOLUME specified can not be an empty string';
      throw new DockerfileError('VOLUME_EMPTY', message, at(i));
    }
    volumes[v] = {};
  }
  state.config.Volumes = volumes;
  history(state, `VOLUME [${paths.map((p) => x.word(p)).join(' ')}]`);
}

export function dispatchStopSignal(
  state: StageState,
  x: Expander,
  signal: string,
  loc: SourceLocation,
): void {
  const value = x.word(signal);
  if (!isSignal(value)) {
    throw new DockerfileError(
      'STOPSIGNAL_INVALID',
      `STOPSIGNAL: invalid signal "${value}"`,
      loc,
      'name a signal (SIGTERM, TERM, SIGRTMIN+3) or give its number (15)',
    );
  }
  state.config.StopSignal = value;
  history(state, `STOPSIGNAL ${value}`);
}

export function dispatchShell(state: StageState, shell: string[]): void {
  state.config.Shell = shell;
  history(state, `SHELL [${shell.join(' ')}]`);
}

export function dispatchHealthcheck(state: StageState, health: HealthConfig): void {
  state.config.Healthcheck = health;
  // Go's %q of the HealthConfig struct: quoted strings, durations as Duration.String, retries
  // as a quoted rune.
  const d = (ns: number | undefined): string => JSON.stringify(goDuration(ns ?? 0));
  const fields = [health.Interval, health.Timeout, health.StartPeriod].map(d);
  history(
    state,
    `HEALTHCHECK &{${goSliceQuote(health.Test ?? [])} ${fields.join(' ')} ${goRune(health.Retries ?? 0)}}`,
  );
}

export function dispatchOnbuild(state: StageState, trigger: string): void {
  // BuildKit records the trigger in the config only: no history entry.
  state.config.OnBuild = [...(state.config.OnBuild ?? []), trigger];
}

/** MAINTAINER is taken as written: BuildKit neither expands it nor removes its quotes. */
export function dispatchMaintainer(state: StageState, name: string): void {
  state.author = name;
  history(state, `MAINTAINER ${state.author}`);
}

/** Go's %q of a []string, as BuildKit writes CMD and ENTRYPOINT into the history. */
export function goSliceQuote(items: string[]): string {
  return `[${items.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/** Go's time.Duration.String for the durations a Dockerfile can give. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1000) return `${ns}ns`;
  if (ns < 1_000_000) return `${trim(ns / 1000)}µs`;
  if (ns < 1_000_000_000) return `${trim(ns / 1_000_000)}ms`;
  const totalSeconds = ns / 1_000_000_000;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = `${trim(totalSeconds % 60)}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

/** Go's %q of an int: the quoted rune. */
export function goRune(n: number): string {
  const named: Record<number, string> = {
    7: 'a',
    8: 'b',
    9: 't',
    10: 'n',
    11: 'v',
    12: 'f',
    13: 'r',
  };
  if (named[n]) return `'\\${named[n]}'`;
  if (n === 39) return "'\\''";
  if (n === 92) return "'\\\\'";
  if (n >= 32 && n < 127) return `'${String.fromCharCode(n)}'`;
  if (n < 128) return `'\\x${n.toString(16).padStart(2, '0')}'`;
  return `'${String.fromCodePoint(n)}'`;
}
