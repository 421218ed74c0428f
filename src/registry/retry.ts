/**
 * Retry decisions for registry requests: network errors, 5xx and 429 are retried with exponential
 * backoff and full jitter, a bounded number of times; a 429 or 503 with Retry-After waits at
 * least that long (capped, so a hostile header cannot stall a build for hours).
 */

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Upper bound for a server's Retry-After. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  retries: 4,
  minDelayMs: 250,
  maxDelayMs: 8000,
  maxRetryAfterMs: 60_000,
};

/** 501 and 505 say the server will never do it, so retrying cannot help. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  // kiln's HTTP client's own (src/net/http-client.ts).
  'HTTP_CONNECT_TIMEOUT',
  'HTTP_HEADERS_TIMEOUT',
  'HTTP_BODY_TIMEOUT',
]);

function codesOf(err: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/** Whether an error is a transient network failure (a reset, a refused connection, a timeout). */
export function isNetworkError(err: unknown): boolean {
  return codesOf(err).some((code) => NETWORK_CODES.has(code));
}

/** Whether an error comes from TLS: certificate verification or a protocol mismatch. */
export function isTlsError(err: unknown): boolean {
  return codesOf(err).some(
    (code) =>
      code.startsWith('ERR_SSL_') ||
      code.startsWith('ERR_TLS_') ||
      /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)/.test(code),
  );
}

/** The network error code to show a user (ECONNREFUSED, ...), if any. */
export function networkErrorCode(err: unknown): string | undefined {
  return codesOf(err)[0];
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The wait before retry number `attempt` (1-based). */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** (attempt - 1));
  const jittered = policy.minDelayMs / 2 + Math.random() * (ceiling - policy.minDelayMs / 2);
  if (retryAfterMs === undefined) return Math.max(0, jittered);
  return Math.min(policy.maxRetryAfterMs, Math.max(retryAfterMs, jittered));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
