import * as fsp from 'node:fs/promises';
import { InputError } from '../errors.js';
import { parseByteSize } from './byte-size.js';
import { type PruneResult, pruneCache } from './prune.js';

/** The environment variable that sets the cache's size limit (`10GB`; `0` or `off`: none). */
export const CACHE_MAX_SIZE_ENV = 'KILN_CACHE_MAX_SIZE';

/** A share of the cache's file system, as BuildKit's default garbage collection keeps. */
const DEFAULT_SHARE = 0.1;

/** The limit asked for: bytes, the default share of the disk, or none at all. */
export type CacheLimit = { bytes: number } | 'default' | 'none';

/** Reads KILN_CACHE_MAX_SIZE; a value that is not a size is bad input, found before building. */
export function cacheLimitFrom(env: NodeJS.ProcessEnv): CacheLimit {
  const text = env[CACHE_MAX_SIZE_ENV]?.trim();
  if (text === undefined || text === '') return 'default';
  if (text === 'off') return 'none';
  const bytes = parseByteSize(text);
  // Any spelling of zero (0, 0B, 0k) turns collection off: a limit of nothing would empty the
  // cache after every build.
  if (bytes === 0) return 'none';
  if (bytes === undefined) {
    throw new InputError('CACHE_MAX_SIZE_INVALID', `${CACHE_MAX_SIZE_ENV}: not a size: "${text}"`, {
      hint: 'write a size such as 20GB or 500MiB, or off for no limit',
    });
  }
  return { bytes };
}

/** The limit in bytes for a cache directory, or undefined for none. */
export async function cacheLimitBytes(
  limit: CacheLimit,
  cacheDir: string,
): Promise<number | undefined> {
  if (limit === 'none') return undefined;
  if (limit !== 'default') return limit.bytes;
  const fs = await fsp.statfs(cacheDir);
  return Math.floor(fs.blocks * fs.bsize * DEFAULT_SHARE);
}

/** What the build that collects garbage used, and so keeps. */
export interface UsedByBuild {
  /** When the build started: whatever was used since (cache mounts, logs) stays. */
  startedAt: number;
  /** The keys of the step records it hit or wrote. */
  records: ReadonlySet<string>;
}

/**
 * Garbage collection after a build that added to the cache: when the cache is larger than its
 * limit, the entries a plain `kiln prune` removes go, used longest ago first, until it fits.
 * What this build used stays, as does what another running build used recently (pruneCache's
 * rule). Base images stay too: only `kiln prune --all` removes them.
 */
export async function autoPrune(
  cacheDir: string,
  limit: CacheLimit,
  used: UsedByBuild,
): Promise<PruneResult | undefined> {
  const keepBytes = await cacheLimitBytes(limit, cacheDir);
  if (keepBytes === undefined) return undefined;
  const now = Date.now();
  return pruneCache(cacheDir, {
    all: false,
    keepBytes,
    untilMs: Math.max(0, now - used.startedAt),
    keepRecords: used.records,
    now,
  });
}
