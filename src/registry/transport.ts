/**
 * HTTP exchanges with registries on undici: which scheme and TLS trust a host gets, one connection
 * pool per host, and redirects. Scheme rules, as in Docker: hosts on 127.0.0.0/8, ::1 and
 * `localhost` speak plain HTTP; hosts listed as insecure try HTTPS without verification and fall
 * back to HTTP; a host with its own CA or client certificate (certs.d or a CA file) always uses
 * verified HTTPS, loopback or not; everything else uses verified HTTPS.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, type Dispatcher, request } from 'undici';
import { DOCKER_HUB } from './reference.js';
import { hostTls, type TlsSettings } from './tls-config.js';

export interface TransportOptions extends TlsSettings {
  /** HOST[:PORT] entries that may use plain HTTP or unverified TLS. */
  insecure?: string[];
  userAgent?: string;
  /** Milliseconds to wait for response headers and between body chunks. */
  timeoutMs?: number;
}

export interface Endpoint {
  /** How the caller names the registry: `docker.io`, `127.0.0.1:5000`, `http://mirror:5000`. */
  name: string;
  /** HOST[:PORT] for credentials and certs.d lookups. */
  host: string;
  /** `scheme://host[:port]` the API lives at. */
  origin: string;
  dispatcher: Dispatcher;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  body?: Buffer | Readable | null;
  /** Follow 3xx responses (GET and HEAD only). */
  followRedirects?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered, after redirects. */
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** Whether a HOST[:PORT] is on the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  let name = host.toLowerCase();
  if (name.startsWith('[')) name = name.slice(1, name.indexOf(']'));
  else if (name.lastIndexOf(':') > 0 && name.indexOf(':') === name.lastIndexOf(':')) {
    name = name.slice(0, name.lastIndexOf(':'));
  }
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** The first header value as a string. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class RegistryTransport {
  private readonly options: TransportOptions;
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  private readonly agents = new Map<string, Promise<Agent>>();
  private readonly insecure: Set<string>;

  constructor(options: TransportOptions = {}) {
    this.options = options;
    this.insecure = new Set((options.insecure ?? []).map((h) => h.toLowerCase()));
  }

  get userAgent(): string {
    return this.options.userAgent ?? 'kiln';
  }

  /** Resolves scheme and connection pool for a registry; cached, safe to call concurrently. */
  endpoint(name: string): Promise<Endpoint> {
    let found = this.endpoints.get(name);
    if (!found) {
      found = this.resolveEndpoint(name);
      this.endpoints.set(name, found);
      found.catch(() => this.endpoints.delete(name));
    }
    return found;
  }

  /** A pool for any URL (token realms, redirect targets), with the host's TLS settings. */
  async dispatcherFor(url: string): Promise<Dispatcher> {
    const u = new URL(url);
    return this.agent(u.host.toLowerCase(), this.insecure.has(u.host.toLowerCase()));
  }

  /** One request, following redirects; drops Authorization when a redirect leaves the origin. */
  async send(endpoint: Endpoint, req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let method = req.method;
    let headers = { 'user-agent': this.userAgent, ...req.headers };
    let dispatcher: Dispatcher = endpoint.dispatcher;
    const canFollow = req.followRedirects && (method === 'GET' || method === 'HEAD');
    for (let hop = 0; ; hop++) {
      const res = await request(url, {
        dispatcher,
        method,
        headers,
        body: req.body ?? null,
        headersTimeout: this.options.timeoutMs ?? 60_000,
        bodyTimeout: this.options.timeoutMs ?? 300_000,
      });
      const location = header(res.headers, 'location');
      if (!canFollow || !REDIRECTS.has(res.statusCode) || !location || hop >= MAX_REDIRECTS) {
        return { status: res.statusCode, headers: res.headers, body: res.body, url };
      }
      await res.body.dump();
      const next = new URL(location, url);
      if (next.origin !== new URL(url).origin) {
        // A blob redirect usually points at object storage with its own signed query; the
        // registry's credentials must not travel there.
        const { authorization: _dropped, ...rest } = headers as Record<string, string>;
        headers = rest as typeof headers;
        dispatcher =
          next.origin === endpoint.origin
            ? endpoint.dispatcher
            : await this.dispatcherFor(next.href);
      }
      if (res.statusCode === 303) method = 'GET';
      url = next.href;
    }
  }

  async close(): Promise<void> {
    const agents = await Promise.allSettled([...this.agents.values()]);
    await Promise.all(agents.flatMap((a) => (a.status === 'fulfilled' ? [a.value.close()] : [])));
    this.agents.clear();
    this.endpoints.clear();
  }

  private agent(host: string, skipVerify: boolean): Promise<Agent> {
    const key = `${host}\n${skipVerify}`;
    let found = this.agents.get(key);
    if (!found) {
      found = (async () => {
        const tls = await hostTls(host, this.options);
        return new Agent({
          connect: {
            ca: tls.ca,
            ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
            rejectUnauthorized: !skipVerify,
          },
        });
      })();
      this.agents.set(key, found);
      found.catch(() => this.agents.delete(key));
    }
    return found;
  }

  private async resolveEndpoint(name: string): Promise<Endpoint> {
    const explicit = /^(https?):\/\/([^/]+)/i.exec(name);
    if (explicit) {
      const scheme = explicit[1]!.toLowerCase();
      const host = explicit[2]!.toLowerCase();
      const dispatcher = await this.agent(host, this.insecure.has(host));
      return { name, host, origin: `${scheme}://${host}`, dispatcher };
    }

    const host = name.toLowerCase();
    const apiHost = host === DOCKER_HUB ? 'registry-1.docker.io' : host;
    const configured = (await hostTls(host, this.options)).configured;
    if (configured) {
      return {
        name,
        host,
        origin: `https://${apiHost}`,
        dispatcher: await this.agent(host, false),
      };
    }
    if (this.insecure.has(host)) {
      const dispatcher = await this.agent(host, true);
      const https = await this.answersHttps(`https://${apiHost}/v2/`, dispatcher);
      return { name, host, origin: `${https ? 'https' : 'http'}://${apiHost}`, dispatcher };
    }
    const scheme = isLoopbackHost(host) ? 'http' : 'https';
    return {
      name,
      host,
      origin: `${scheme}://${apiHost}`,
      dispatcher: await this.agent(host, false),
    };
  }

  private async answersHttps(url: string, dispatcher: Dispatcher): Promise<boolean> {
    try {
      const res = await request(url, {
        dispatcher,
        method: 'GET',
        headers: { 'user-agent': this.userAgent },
        headersTimeout: 5000,
        bodyTimeout: 5000,
      });
      await res.body.dump();
      return true;
    } catch {
      return false;
    }
  }
}
