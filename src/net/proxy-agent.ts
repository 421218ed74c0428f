/**
 * Connections through an http:// proxy. An https URL goes through a CONNECT tunnel (the proxy
 * sees only the host and port; TLS, with the host's own trust, runs end to end inside the
 * tunnel); an http URL is sent to the proxy in absolute form (`GET http://host/path`), as Go's
 * transport does it.
 */
import type * as http from 'node:http';
import type * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type * as tls from 'node:tls';
import { NetworkError } from '../errors.js';

/** The Proxy-Authorization header for credentials in the proxy URL, if any. */
export function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === '' && proxy.password === '') return {};
  const user = decodeURIComponent(proxy.username);
  const pass = decodeURIComponent(proxy.password);
  return { 'proxy-authorization': `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

/** Where the proxy listens. */
export function proxyAddress(proxy: URL): { host: string; port: number } {
  return { host: proxy.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(proxy.port || 80) };
}

interface Modules {
  http: typeof import('node:http');
  https: typeof import('node:https');
  tls: typeof import('node:tls');
}

/**
 * An https agent whose connections are TLS sockets over a CONNECT tunnel. `connectTimeoutMs`
 * bounds the proxy's answer to CONNECT; the TLS handshake has the request's own timeout.
 */
export function tunnelAgent(
  modules: Modules,
  proxy: URL,
  options: https.AgentOptions,
  connectTimeoutMs: number,
): https.Agent {
  const { http: httpLib, https: httpsLib, tls: tlsLib } = modules;
  const shown = `${proxy.protocol}//${proxy.host}`;

  class TunnelAgent extends httpsLib.Agent {
    override createConnection(
      opts: http.RequestOptions,
      callback?: (err: Error | null, stream: Duplex) => void,
    ): undefined {
      const target = `${bracketed(opts.host ?? 'localhost')}:${opts.port ?? 443}`;
      const settle = once(callback);
      // The agent only looks at the socket when there is no error.
      const done = (err: Error | null, socket?: Duplex) => settle(err, socket as Duplex);
      const connect: http.ClientRequest = httpLib.request({
        ...proxyAddress(proxy),
        method: 'CONNECT',
        path: target,
        headers: { host: target, ...proxyAuthorization(proxy) },
        agent: false,
      });
      connect.setTimeout(connectTimeoutMs, () => {
        connect.destroy(
          new NetworkError(
            'HTTP_CONNECT_TIMEOUT',
            `proxy ${shown} did not open a tunnel to ${target} within ${connectTimeoutMs} ms`,
          ),
        );
      });
      connect.once('connect', (res, socket, head) => {
        connect.setTimeout(0);
        if (res.statusCode !== 200) {
          socket.destroy();
          done(
            new NetworkError(
              'PROXY_CONNECT_FAILED',
              `proxy ${shown} refused a tunnel to ${target}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim(),
            ),
          );
          return;
        }
        if (head.length > 0) socket.unshift(head);
        done(null, tlsLib.connect({ ...(opts as tls.ConnectionOptions), socket }));
      });
      connect.once('error', (err) => done(NetworkError.from(err)));
      connect.end();
      return undefined;
    }
  }
  return new TunnelAgent(options);
}

function bracketed(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function once<A extends unknown[]>(fn: ((...args: A) => void) | undefined): (...args: A) => void {
  let called = false;
  return (...args: A) => {
    if (called) return;
    called = true;
    fn?.(...args);
  };
}
