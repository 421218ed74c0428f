import { createHash } from 'node:crypto';

/**
 * A step's cache key: the parent's key plus everything the step depends on, in a canonical JSON
 * form (object keys sorted), hashed. Callers pass only what matters: expanded arguments, the
 * environment, user, workdir, network mode and content digests, never secrets or proxy variables.
 */
export function cacheKey(parent: string, parts: unknown): string {
  const text = canonicalJson([parent, parts]);
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The names of build args that never enter a cache key or the history (Docker's proxy args). */
export const PROXY_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
]);
