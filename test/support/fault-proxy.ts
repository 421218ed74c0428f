/**
 * A deliberate fake: a reverse proxy on loopback in front of a real registry that fails on
 * purpose (5xx, 429 with Retry-After, connection resets, corrupted bodies, redirects), because no
 * real registry can be asked to fail. Each request is shown to `decide`, which picks what happens.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'pass' }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string | Buffer }
  /** Close the socket without an answer. */
  | { kind: 'reset' }
  /** Never answer (until the proxy stops). */
  | { kind: 'stall' }
  /** Forward, but flip one byte of the response body. */
  | { kind: 'corrupt' }
  /** Forward the headers and the first body chunk, then close the socket. */
  | { kind: 'truncate' }
  /** Answer 200 with a body that never ends (until the client hangs up). */
  | { kind: 'endless' };

export interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
}

export interface FaultProxy {
  host: string;
  seen: SeenRequest[];
  stop(): Promise<void>;
}

export async function startFaultProxy(
  target: string,
  decide: (req: SeenRequest, index: number) => Fault,
): Promise<FaultProxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const info = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      authorization: req.headers.authorization,
    };
    seen.push(info);
    const fault = decide(info, seen.length - 1);
    if (fault.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault.kind === 'stall') {
      req.resume();
      return;
    }
    if (fault.kind === 'endless') {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      const chunk = Buffer.alloc(64 * 1024, ' ');
      const more = (): void => {
        while (!res.destroyed && res.write(chunk)) {}
        if (!res.destroyed) res.once('drain', more);
      };
      more();
      return;
    }
    if (fault.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, fault.headers ?? {});
      res.end(fault.body ?? '');
      return;
    }
    const upstream = http.request(
      {
        host: targetHost,
        port: Number(targetPort),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target },
      },
      (up) => {
        const headers = { ...up.headers };
        // The registry's Location points at itself; keep the client talking to the proxy.
        if (typeof headers.location === 'string') {
          headers.location = headers.location.replace(`//${target}`, `//${proxyHost}`);
        }
        res.writeHead(up.statusCode ?? 502, headers);
        if (fault.kind === 'truncate') {
          up.once('data', (chunk: Buffer) => {
            res.write(chunk.subarray(0, Math.ceil(chunk.length / 2)), () => res.destroy());
          });
          return;
        }
        if (fault.kind !== 'corrupt') {
          up.pipe(res);
          return;
        }
        let flipped = false;
        up.on('data', (chunk: Buffer) => {
          const copy = Buffer.from(chunk);
          if (!flipped && copy.length > 0) {
            copy[0] = copy[0]! ^ 0xff;
            flipped = true;
          }
          res.write(copy);
        });
        up.on('end', () => res.end());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxyHost = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host: proxyHost,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
