import * as path from 'node:path';
import { parseByteSize } from '../cache/byte-size.js';
import type { PruneOptions } from '../cache/prune.js';
import { InputError } from '../errors.js';
import { defaultCacheDir } from './build-options.js';
import { parseGoDuration } from './executor-args.js';

/** The options of `kiln prune` as commander hands them over. */
export interface PruneFlags {
  all?: boolean;
  keepStorage?: string;
  filter: string[];
  cacheDir?: string;
  force?: boolean;
}

/** Parses --keep-storage's size (see parseByteSize). */
export function parseSize(text: string): number {
  const bytes = parseByteSize(text);
  if (bytes === undefined) {
    throw new InputError('FLAG_INVALID', `--keep-storage: not a size: "${text}"`, {
      hint: 'write a number with an optional unit: 500MB, 10GB, 1.5GiB',
    });
  }
  return bytes;
}

/** Formats bytes the way Docker prints sizes: decimal units, three significant digits. */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${i === 0 ? value : Number(value.toPrecision(3))}${units[i]}`;
}

function parseFilters(filters: string[]): number | undefined {
  let until: number | undefined;
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = eq < 0 ? filter : filter.slice(0, eq);
    if (key !== 'until') {
      throw new InputError('FLAG_INVALID', `--filter: unknown filter "${key}"`, {
        hint: 'kiln prune supports --filter until=DURATION (for example until=24h)',
      });
    }
    const ms = parseGoDuration(filter.slice(eq + 1));
    if (ms === undefined || ms < 0) {
      throw new InputError('FLAG_INVALID', `--filter until: not a duration: "${filter}"`, {
        hint: 'write a Go duration: 24h, 90m, 1h30m',
      });
    }
    until = ms;
  }
  return until;
}

/** Validates the flags of `kiln prune`. */
export function toPruneOptions(
  flags: PruneFlags,
  cwd: string,
  env: NodeJS.ProcessEnv,
): { cacheDir: string; options: PruneOptions } {
  const untilMs = parseFilters(flags.filter);
  const keepBytes = flags.keepStorage === undefined ? undefined : parseSize(flags.keepStorage);
  return {
    cacheDir: flags.cacheDir ? path.resolve(cwd, flags.cacheDir) : defaultCacheDir(env),
    options: {
      all: flags.all === true,
      ...(untilMs === undefined ? {} : { untilMs }),
      ...(keepBytes === undefined ? {} : { keepBytes }),
    },
  };
}
