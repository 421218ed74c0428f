import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  backoffDelay,
  DEFAULT_RETRY,
  isNetworkError,
  isRetryableStatus,
  isTlsError,
  parseRetryAfter,
} from './retry.js';

test('retries 429 and 5xx except 501 and 505, and not 4xx', () => {
  for (const s of [429, 500, 502, 503, 504]) assert.equal(isRetryableStatus(s), true, String(s));
  for (const s of [400, 401, 403, 404, 501, 505])
    assert.equal(isRetryableStatus(s), false, String(s));
});

test('reads Retry-After as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  const now = Date.parse('2024-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now), 5000);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
});

test('keeps backoff within the policy bounds and grows it with the attempt', () => {
  for (let attempt = 1; attempt <= 10; attempt++) {
    const d = backoffDelay(DEFAULT_RETRY, attempt);
    assert.ok(d >= DEFAULT_RETRY.minDelayMs / 2 && d <= DEFAULT_RETRY.maxDelayMs, `${d}`);
  }
  const policy = { ...DEFAULT_RETRY, minDelayMs: 100, maxDelayMs: 100_000 };
  const late = Array.from({ length: 50 }, () => backoffDelay(policy, 6));
  assert.ok(Math.max(...late) > 400, 'the sixth retry may wait longer than the second');
});

test('waits at least Retry-After but no longer than the cap', () => {
  assert.ok(backoffDelay(DEFAULT_RETRY, 1, 2000) >= 2000);
  assert.equal(backoffDelay(DEFAULT_RETRY, 1, 3_600_000), DEFAULT_RETRY.maxRetryAfterMs);
});

test('classifies network and TLS errors through their cause chain', () => {
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  assert.equal(isNetworkError(new Error('fetch failed', { cause: reset })), true);
  assert.equal(isNetworkError(new Error('plain')), false);
  const tls = Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  assert.equal(isTlsError(tls), true);
  assert.equal(isTlsError(reset), false);
});
