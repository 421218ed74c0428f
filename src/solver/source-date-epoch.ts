import { InputError } from '../errors.js';
import type { BuildRequest } from './build-request.js';

/** The build's SOURCE_DATE_EPOCH, the reproducible-builds convention for pinning timestamps. */
export interface SourceDateEpoch {
  seconds: number;
  /** RFC 3339 in UTC without fractional seconds, as Go writes a whole-second time. */
  iso: string;
  /** Whether the entries of new layers get their mtimes clamped to it (rewrite-timestamp). */
  rewriteTimestamp: boolean;
}

/**
 * SOURCE_DATE_EPOCH from `--build-arg` or, failing that, the environment (buildx and buildctl
 * forward the client's variable the same way). An empty value counts as unset. Timestamp
 * rewriting is on when kaniko's `--reproducible` or any output's `rewrite-timestamp=true` asks
 * for it; without an epoch it has nothing to clamp to, and `warn` says so.
 */
export function sourceDateEpochOf(
  request: BuildRequest,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): SourceDateEpoch | undefined {
  const rewrite =
    request.rewriteTimestamp ||
    request.outputs.some((o) => 'rewriteTimestamp' in o && o.rewriteTimestamp === true);
  const text = request.buildArgs.get('SOURCE_DATE_EPOCH') ?? env.SOURCE_DATE_EPOCH ?? '';
  if (text === '') {
    if (rewrite) warn('rewrite-timestamp has no effect without SOURCE_DATE_EPOCH');
    return undefined;
  }

  const seconds = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds * 1000 > 8.64e15) {
    throw new InputError('SOURCE_DATE_EPOCH_INVALID', `SOURCE_DATE_EPOCH: "${text}" is invalid`, {
      hint: 'use whole seconds since 1970-01-01 UTC, e.g. $(git log -1 --pretty=%ct)',
    });
  }
  return { seconds, iso: formatEpoch(seconds), rewriteTimestamp: rewrite };
}

/** `1700000000` as `2023-11-14T22:13:20Z`. */
export function formatEpoch(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * A `created` time clamped to the epoch: later times (and none at all) become the epoch, earlier
 * ones stay, as BuildKit clamps history so an old cached step keeps its real date.
 */
export function clampCreated(created: string | undefined, epoch: SourceDateEpoch): string {
  if (created === undefined) return epoch.iso;
  const ms = Date.parse(created);
  return Number.isNaN(ms) || ms > epoch.seconds * 1000 ? epoch.iso : created;
}
