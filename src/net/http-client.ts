/**
 * kiln's HTTP/1.1 client on node:http and node:https: keep-alive connection pools (one for plain
 * HTTP, one per HTTPS host with that host's TLS trust and client identity), request bodies as a
 * Buffer or a stream (chunked when no Content-Length is given), the response body as a
 * ResponseBody, timeouts, and redirects that never carry credentials to another origin.
 *
 * Failures below HTTP reject with NetworkError: the system's code for connection and TLS errors,
 * HTTP_CONNECT_TIMEOUT, HTTP_HEADERS_TIMEOUT or HTTP_BODY_TIMEOUT for silence. An error of the
 * request's own body stream rejects as it is. HTTP_PROXY, HTTPS_PROXY and NO_PROXY are honoured
 * as Go's transport honours them (proxy-env.ts), through proxy-agent.ts.
 *
 * node:http and node:https load on the first request that needs them, so a process that makes no
 * request (or only plain ones to a loopback registry) does not pay for TLS at start.
 */
import type * as http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { NetworkError } from '../errors.js';
import { onAbort } from '../on-abort.js';
import { proxyAddress, proxyAuthorization, tunnelAgent } from './proxy-agent.js';
import { type ProxyEnv, proxyFor } from './proxy-env.js';
import { ResponseBody } from './response-body.js';

export interface TlsOptions {
  /** Trusted CAs (PEM). Without them, Node's bundled roots. */
  ca?: string[];
  /** A client certificate and its key (PEM). */
  cert?: string;
  key?: string;
  /** false accepts any server certificate (an insecure registry). */
  rejectUnauthorized?: boolean;
}

export interface HttpClientOptions {
  /** TLS settings for an HTTPS host (HOST[:PORT] as in the URL); asked once per host. */
  tls?: (host: string) => TlsOptions | Promise<TlsOptions>;
  /** Milliseconds for the TCP connection and the TLS handshake. */
  connectTimeoutMs?: number;
  /** Milliseconds from the end of the request to the response headers. */
  headersTimeoutMs?: number;
  /** Milliseconds the server may stay silent while the body is being read. */
  bodyTimeoutMs?: number;
  /** Where the proxy variables are read; the process environment by default. */
  proxyEnv?: ProxyEnv;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method?: HttpMethod;
  url: string | URL;
  headers?: Record<string, string>;
  body?: Buffer | string | Readable | null;
  /** Follow up to this many 3xx answers, for GET and HEAD only; 0 (the default) returns them. */
  maxRedirects?: number;
  /** Overrides of the client's timeouts for this request. */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
  /** The URL that answered, after redirects. */
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that carry credentials: a redirect to another origin drops them. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);
/**
 * The limits of the HTTP library kiln used before this client, kept so that callers that set no
 * timeout of their own behave as they did.
 */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 300_000;

type HttpModule = typeof import('node:http');
let httpModule: Promise<HttpModule> | undefined;
let httpsModule: Promise<HttpModule> | undefined;

function load(protocol: string): Promise<HttpModule> {
  if (protocol === 'https:') {
    httpsModule ??= import('node:https') as unknown as Promise<HttpModule>;
    return httpsModule;
  }
  httpModule ??= import('node:http');
  return httpModule;
}

export class HttpClient {
  private readonly options: HttpClientOptions;
  private readonly agents = new Map<string, Promise<http.Agent>>();

  constructor(options: HttpClientOptions = {}) {
    this.options = options;
  }

  /** Sends one request (and its redirects, when asked); resolves once the headers are in. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const method = req.method ?? 'GET';
    const follow = method === 'GET' || method === 'HEAD' ? (req.maxRedirects ?? 0) : 0;
    let url = new URL(req.url);
    let headers = lowerCaseKeys(req.headers ?? {});
    for (let hop = 0; ; hop++) {
      const res = await this.once(url, method, headers, hop === 0 ? req.body : null, req);
      const location = res.headers.location;
      if (hop >= follow || !REDIRECTS.has(res.status) || !location) return res;
      await res.body.dump();
      const next = new URL(location, url);
      // A blob redirect usually points at object storage with its own signed query; the
      // registry's credentials must not travel there.
      if (next.origin !== url.origin) {
        headers = Object.fromEntries(
          Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.has(name)),
        );
      }
      url = next;
    }
  }

  /** Ends every pooled connection, idle or busy, so the process can exit at once. */
  async close(): Promise<void> {
    const agents = await Promise.allSettled([...this.agents.values()]);
    this.agents.clear();
    for (const agent of agents) if (agent.status === 'fulfilled') agent.value.destroy();
  }

  private async once(
    url: URL,
    method: HttpMethod,
    headers: Record<string, string>,
    body: HttpRequest['body'],
    req: HttpRequest,
  ): Promise<HttpResponse> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`unsupported URL scheme ${url.protocol} (http and https only)`);
    }
    const proxy = proxyFor(url, this.options.proxyEnv ?? process.env);
    const [lib, agent] = await Promise.all([load(url.protocol), this.agent(url, proxy)]);
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    if (Buffer.isBuffer(payload) && headers['content-length'] === undefined) {
      headers = { ...headers, 'content-length': String(payload.length) };
    }
    const timeouts = {
      connect: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      headers: req.headersTimeoutMs ?? this.options.headersTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      body: req.bodyTimeoutMs ?? this.options.bodyTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    // Plain HTTP through a proxy: the request goes to the proxy with the whole URL as its path.
    const request =
      proxy && url.protocol === 'http:'
        ? lib.request({
            ...proxyAddress(proxy),
            method,
            path: url.href,
            headers: { host: url.host, ...headers, ...proxyAuthorization(proxy) },
            agent,
          })
        : lib.request(url, { method, headers, agent });
    return exchange(request, url, payload, timeouts, req.signal);
  }

  private agent(url: URL, proxy: URL | undefined): Promise<http.Agent> {
    const via = proxy ? ` via ${proxy.href}` : '';
    const key = url.protocol === 'https:' ? `https://${url.host}${via}` : `http:${via}`;
    let found = this.agents.get(key);
    if (!found) {
      found =
        url.protocol === 'https:'
          ? this.httpsAgent(url.host, proxy)
          : load('http:').then((lib) => new lib.Agent({ keepAlive: true }));
      this.agents.set(key, found);
      found.catch(() => this.agents.delete(key));
    }
    return found;
  }

  private async httpsAgent(host: string, proxy: URL | undefined): Promise<http.Agent> {
    const [http, https, tls] = await Promise.all([
      import('node:http'),
      import('node:https'),
      import('node:tls'),
    ]);
    const settings = (await this.options.tls?.(host)) ?? {};
    // One secure context per host: passing `ca` per connection would parse the whole system
    // bundle again for every new socket.
    const secureContext = tls.createSecureContext({
      ...(settings.ca ? { ca: settings.ca } : {}),
      ...(settings.cert ? { cert: settings.cert, key: settings.key } : {}),
    });
    const options = {
      keepAlive: true,
      secureContext,
      rejectUnauthorized: settings.rejectUnauthorized ?? true,
    };
    if (proxy === undefined) return new https.Agent(options);
    const connectTimeout = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return tunnelAgent({ http, https, tls }, proxy, options, connectTimeout);
  }
}

interface Timeouts {
  connect: number;
  headers: number;
  body: number;
}

/** Drives one ClientRequest to its response headers, with timeouts, abort and the upload. */
function exchange(
  request: http.ClientRequest,
  url: URL,
  body: Buffer | Readable | null | undefined,
  timeouts: Timeouts,
  signal: AbortSignal | undefined,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let headersTimer: NodeJS.Timeout | undefined;
    const stream = body instanceof Readable ? body : undefined;

    const timeout = (ms: number, code: string, message: string) =>
      setTimeout(() => fail(new NetworkError(code, message)), ms);
    const abortRequest = () => fail(signal?.reason);
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
      signal?.removeEventListener('abort', abortRequest);
      if (stream) {
        stream.unpipe(request);
        stream.destroy();
      }
      request.destroy();
      reject(err);
    };

    request.on('socket', (socket) => {
      // A pooled connection is already up; a new one gets the connect timeout until its
      // handshake (TCP, and TLS for https) is done.
      if (request.reusedSocket || settled) return;
      const { connect } = timeouts;
      connectTimer = timeout(
        connect,
        'HTTP_CONNECT_TIMEOUT',
        `cannot connect to ${url.host} within ${connect} ms`,
      );
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () =>
        clearTimeout(connectTimer),
      );
    });
    // The headers timeout starts once the request is sent, so a long upload is not cut short.
    request.once('finish', () => {
      if (settled) return;
      headersTimer = timeout(
        timeouts.headers,
        'HTTP_HEADERS_TIMEOUT',
        `${url.host} sent no response headers within ${timeouts.headers} ms`,
      );
    });
    request.once('response', (message) => {
      if (settled) {
        message.destroy();
        return;
      }
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
      const responseBody = new ResponseBody(message, timeouts.body, url.host);
      if (signal) {
        signal.removeEventListener('abort', abortRequest);
        const stopWatching = onAbort(signal, () => responseBody.destroy(signal.reason));
        responseBody.once('close', stopWatching);
      }
      resolve({
        status: message.statusCode ?? 0,
        headers: message.headers,
        body: responseBody,
        url: url.href,
      });
    });
    // Errors after the response (a reset mid-body) reach the body through its own stream.
    request.on('error', (err) => fail(NetworkError.from(err)));

    if (signal?.aborted) {
      fail(signal.reason);
      return;
    }
    signal?.addEventListener('abort', abortRequest, { once: true });
    if (stream) {
      // The body's own failure (a file gone, a digest check) is reported as it is.
      stream.once('error', fail);
      stream.pipe(request);
    } else {
      request.end(body ?? undefined);
    }
  });
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
