/**
 * HTTP exchanges with registries: which scheme and TLS trust a host gets; connection pools and
 * redirects are kiln's HTTP client's (src/net/http-client.ts). Scheme rules, as in Docker: hosts
 * on 127.0.0.0/8, ::1 and `localhost` speak plain HTTP; hosts listed as insecure try HTTPS without verification and fall
 * back to HTTP; a host with its own CA or client certificate (certs.d or a CA file) always uses
 * verified HTTPS, loopback or not; everything else uses verified HTTPS.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import {
  HttpClient,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  type TlsOptions,
} from '../net/http-client.js';
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
}

export type { HttpMethod, HttpResponse };

export interface TransportRequest {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  body?: Buffer | Readable | null;
  /** Follow 3xx responses (GET and HEAD only). */
  followRedirects?: boolean;
}

const MAX_REDIRECTS = 5;
const DOCKER_HUB_API = 'registry-1.docker.io';

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
  private readonly http: HttpClient;
  private readonly insecure: Set<string>;

  constructor(options: TransportOptions = {}) {
    this.options = options;
    this.insecure = new Set((options.insecure ?? []).map((h) => h.toLowerCase()));
    this.http = new HttpClient({
      tls: (host) => this.tlsFor(host),
      headersTimeoutMs: options.timeoutMs ?? 60_000,
      bodyTimeoutMs: options.timeoutMs ?? 300_000,
    });
  }

  get userAgent(): string {
    return this.options.userAgent ?? 'kiln';
  }

  /** Resolves the scheme for a registry; cached, safe to call concurrently. */
  endpoint(name: string): Promise<Endpoint> {
    let found = this.endpoints.get(name);
    if (!found) {
      found = this.resolveEndpoint(name);
      this.endpoints.set(name, found);
      found.catch(() => this.endpoints.delete(name));
    }
    return found;
  }

  /** One request to a registry, following redirects when asked (GET and HEAD only). */
  send(req: TransportRequest): Promise<HttpResponse> {
    return this.request({
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: req.body ?? null,
      maxRedirects: req.followRedirects ? MAX_REDIRECTS : 0,
    });
  }

  /** Any request (a token realm too) with kiln's User-Agent and each host's TLS settings. */
  request(req: HttpRequest): Promise<HttpResponse> {
    return this.http.request({ ...req, headers: { 'user-agent': this.userAgent, ...req.headers } });
  }

  async close(): Promise<void> {
    await this.http.close();
    this.endpoints.clear();
  }

  /**
   * The TLS settings for a host a URL names. Docker Hub's API host takes docker.io's certs.d
   * entry, as in Docker. A host with its own CA or client certificate is always verified.
   */
  private async tlsFor(urlHost: string): Promise<TlsOptions> {
    const host = urlHost === DOCKER_HUB_API ? DOCKER_HUB : urlHost;
    const tls = await hostTls(host, this.options);
    return {
      ca: tls.ca,
      ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
      rejectUnauthorized: tls.configured || !this.insecure.has(host),
    };
  }

  private async resolveEndpoint(name: string): Promise<Endpoint> {
    const explicit = /^(https?):\/\/([^/]+)/i.exec(name);
    if (explicit) {
      const scheme = explicit[1]!.toLowerCase();
      const host = explicit[2]!.toLowerCase();
      return { name, host, origin: `${scheme}://${host}` };
    }

    const host = name.toLowerCase();
    const apiHost = host === DOCKER_HUB ? DOCKER_HUB_API : host;
    const configured = (await hostTls(host, this.options)).configured;
    if (configured) return { name, host, origin: `https://${apiHost}` };
    if (this.insecure.has(host)) {
      const https = await this.answersHttps(`https://${apiHost}/v2/`);
      return { name, host, origin: `${https ? 'https' : 'http'}://${apiHost}` };
    }
    const scheme = isLoopbackHost(host) ? 'http' : 'https';
    return { name, host, origin: `${scheme}://${apiHost}` };
  }

  private async answersHttps(url: string): Promise<boolean> {
    try {
      const res = await this.request({ url, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
      await res.body.dump();
      return true;
    } catch {
      return false;
    }
  }
}
