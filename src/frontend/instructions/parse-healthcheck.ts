import type { Instruction } from '../dockerfile/instruction.js';
import { argAt, flagAt } from '../dockerfile/word-location.js';
import type { BFlags } from './bflags.js';
import type { Command, HealthConfig } from './commands.js';
import { parseGoDuration } from './duration.js';
import { atLeastOne, base, Failure, flags } from './instruction-support.js';

function interval(ins: Instruction, f: BFlags, name: string): number {
  const s = f.string(name);
  if (s === undefined || s === '') return 0;
  const at = flagAt(ins.location, name);
  let ms: number;
  try {
    ms = parseGoDuration(s);
  } catch (err) {
    throw new Failure((err as Error).message, undefined, at);
  }
  if (ms === 0) return 0;
  if (ms < 1) throw new Failure(`Interval "${name}" cannot be less than 1ms`, undefined, at);
  return ms;
}

/** HEALTHCHECK NONE, or CMD with its durations and retries checked as Docker checks them. */
export function parseHealthcheck(ins: Instruction): Command {
  if (ins.args.length === 0) throw atLeastOne('HEALTHCHECK');
  const typ = ins.args[0]!.toUpperCase();
  const rest = ins.args.slice(1);
  const health: HealthConfig = {
    test: [],
    intervalMs: 0,
    timeoutMs: 0,
    startPeriodMs: 0,
    startIntervalMs: 0,
    retries: 0,
  };
  if (typ === 'NONE') {
    if (rest.length !== 0) {
      throw new Failure('HEALTHCHECK NONE takes no arguments', undefined, argAt(ins.location, 1));
    }
    health.test = ['NONE'];
    return { kind: 'healthcheck', health, ...base(ins) };
  }
  const f = flags(ins, {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  });
  if (typ !== 'CMD') {
    const at = argAt(ins.location, 0);
    throw new Failure(`Unknown type "${typ}" in HEALTHCHECK (try CMD)`, undefined, at);
  }
  if (rest.length === 0) throw new Failure('Missing command after HEALTHCHECK CMD');
  health.test = [ins.json ? 'CMD' : 'CMD-SHELL', ...rest];
  health.intervalMs = interval(ins, f, 'interval');
  health.timeoutMs = interval(ins, f, 'timeout');
  health.startPeriodMs = interval(ins, f, 'start-period');
  health.startIntervalMs = interval(ins, f, 'start-interval');
  const retries = f.string('retries');
  if (retries !== undefined && retries !== '') {
    const at = flagAt(ins.location, 'retries');
    if (!/^[+-]?[0-9]+$/.test(retries) || Math.abs(Number(retries)) > 2 ** 31 - 1) {
      const message = `strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`;
      throw new Failure(message, undefined, at);
    }
    const n = Number(retries);
    if (n < 0) throw new Failure(`--retries cannot be negative (${n})`, undefined, at);
    health.retries = n;
  }
  return { kind: 'healthcheck', health, ...base(ins) };
}
