/**
 * One logical registry request: authentication on a 401 challenge, then bounded retries with
 * backoff on network errors, 5xx and 429 for requests that are safe to repeat. A request whose
 * body is a one-shot stream is never repeated here; its caller restarts the whole operation.
 */
import type { Readable } from 'node:stream';
import { KilnError, NetworkError } from '../errors.js';
import { parseChallenges } from './auth-challenge.js';
import type { Authenticator } from './authenticator.js';
import { transportError } from './registry-errors.js';
import {
  backoffDelay,
  isNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  type RetryPolicy,
  sleep,
} from './retry.js';
import type { Endpoint, HttpMethod, HttpResponse, RegistryTransport } from './transport.js';
import { header } from './transport.js';

export interface RetryInfo {
  reference: string;
  attempt: number;
  delayMs: number;
  /** An HTTP status or a network error code. */
  reason: string;
}

export interface CallRequest {
  /** The registry as named for the endpoint: host or mirror URL. */
  registry: string;
  method: HttpMethod;
  /** `/v2/...` under the endpoint's origin, or an absolute URL (an upload location). */
  path: string;
  scopes: string[];
  headers?: Record<string, string>;
  /** A Buffer, or a factory for a fresh stream (called again only for an auth round trip). */
  body?: Buffer | (() => Readable | Promise<Readable>);
  /** Whether transient failures may repeat the request; defaults to true for GET, HEAD, PUT. */
  idempotent?: boolean;
  followRedirects?: boolean;
  /** For messages: "pull manifest", "push blob"... */
  what: string;
  reference: string;
  signal?: AbortSignal;
}

export interface CallResult {
  res: HttpResponse;
  endpoint: Endpoint;
}

export class RegistryHttp {
  constructor(
    readonly transport: RegistryTransport,
    private readonly auth: Authenticator,
    readonly retry: RetryPolicy,
    private readonly onRetry?: (info: RetryInfo) => void,
  ) {}

  /** Sends the request; answers with any final status (the caller decides what is an error). */
  async call(req: CallRequest): Promise<CallResult> {
    const idempotent =
      req.idempotent ??
      (req.method === 'GET' || req.method === 'HEAD' || (req.method === 'PUT' && !isStream(req)));
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      let endpoint: Endpoint;
      let res: HttpResponse;
      try {
        endpoint = await this.transport.endpoint(req.registry);
        res = await this.once(endpoint, req);
      } catch (err) {
        if (idempotent && isNetworkError(err) && attempt <= this.retry.retries) {
          await this.wait(req, attempt, (err as { code?: string }).code ?? 'network error');
          continue;
        }
        // The user's own configuration (a broken config.json, a failing credential helper) is
        // not a network failure: report it as it is.
        if (err instanceof KilnError && !(err instanceof NetworkError)) throw err;
        throw transportError(err, req.what, req.reference, hostOf(req.registry));
      }

      if (res.status === 401 && !authRetried) {
        const challenges = parseChallenges(res.headers['www-authenticate']);
        if (this.auth.learn(endpoint.host, challenges)) {
          authRetried = true;
          this.auth.invalidate(endpoint.host, req.scopes);
          await res.body.dump();
          attempt--;
          continue;
        }
      }
      if (idempotent && isRetryableStatus(res.status) && attempt <= this.retry.retries) {
        const retryAfter = parseRetryAfter(header(res.headers, 'retry-after'));
        await res.body.dump();
        await this.wait(req, attempt, `HTTP ${res.status}`, retryAfter);
        continue;
      }
      return { res, endpoint };
    }
  }

  private async once(endpoint: Endpoint, req: CallRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...req.headers };
    const authorization = await this.auth.authorization(endpoint.host, req.scopes);
    if (authorization) headers.authorization = authorization;
    const url = /^https?:\/\//.test(req.path) ? req.path : endpoint.origin + req.path;
    const body = typeof req.body === 'function' ? await req.body() : req.body;
    return this.transport.send({
      method: req.method,
      url,
      headers,
      body: body ?? null,
      followRedirects: req.followRedirects ?? false,
    });
  }

  private async wait(
    req: CallRequest,
    attempt: number,
    reason: string,
    retryAfterMs?: number,
  ): Promise<void> {
    const delayMs = backoffDelay(this.retry, attempt, retryAfterMs);
    this.onRetry?.({ reference: req.reference, attempt, delayMs, reason });
    await sleep(delayMs, req.signal);
  }
}

function isStream(req: CallRequest): boolean {
  return typeof req.body === 'function';
}

/** HOST[:PORT] of a registry name that may be a mirror URL. */
export function hostOf(registry: string): string {
  return registry.replace(/^https?:\/\//i, '').split('/')[0] ?? registry;
}
