import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetworkError } from '../errors.js';
import { isNetworkError } from '../registry/retry.js';
import { HttpClient } from './http-client.js';

interface Server {
  origin: string;
  /** Connections accepted so far. */
  connections: number;
  /** Connections closed so far. */
  closed: number;
  stop(): Promise<void>;
}

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => s.stop())));

async function serve(handler: http.RequestListener): Promise<Server> {
  const server = http.createServer(handler);
  const result: Server = {
    origin: '',
    connections: 0,
    closed: 0,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket) => {
    result.connections++;
    socket.on('close', () => result.closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  result.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.push(result);
  return result;
}

function rejectsWithCode(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(err.code, code);
    assert.equal(isNetworkError(err), true, 'the retry logic sees a network error');
    return true;
  };
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await sleep(10);
  assert.ok(check(), 'condition reached');
}

describe('HttpClient', () => {
  test('reuses one keep-alive connection for consecutive requests', async () => {
    const server = await serve((_req, res) => res.end('ok'));
    const client = new HttpClient();
    try {
      for (let i = 0; i < 3; i++) {
        const res = await client.request({ url: `${server.origin}/x` });
        assert.equal(await res.body.text(), 'ok');
      }
      assert.equal(server.connections, 1);
    } finally {
      await client.close();
    }
  });

  test('keeps the connection after dump() of a small body', async () => {
    const server = await serve((_req, res) => res.end('x'.repeat(1000)));
    const client = new HttpClient();
    try {
      await (await client.request({ url: server.origin })).body.dump();
      await (await client.request({ url: server.origin })).body.dump();
      assert.equal(server.connections, 1);
    } finally {
      await client.close();
    }
  });

  test('close() ends idle pooled connections', async () => {
    const server = await serve((_req, res) => res.end('ok'));
    const client = new HttpClient();
    await (await client.request({ url: server.origin })).body.dump();
    assert.equal(server.closed, 0);
    await client.close();
    await waitFor(() => server.closed === 1);
  });

  test('reads the body as text, JSON and a Buffer', async () => {
    const server = await serve((_req, res) => res.end('{"tags":["a"]}'));
    const client = new HttpClient();
    try {
      const url = server.origin;
      assert.deepEqual(await (await client.request({ url })).body.json(), { tags: ['a'] });
      assert.equal(await (await client.request({ url })).body.text(), '{"tags":["a"]}');
      assert.equal((await (await client.request({ url })).body.buffer()).length, 14);
      const head = await client.request({ url, method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.body.text(), '');
    } finally {
      await client.close();
    }
  });

  test('stops reading a body that passes the limit, however long the server goes on', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const server = await serve((_req, res) => {
      const more = (): void => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    });
    const client = new HttpClient();
    try {
      const res = await client.request({ url: server.origin });
      await assert.rejects(res.body.json(1024 * 1024), (err: unknown) => {
        assert.ok(err instanceof NetworkError, String(err));
        assert.equal(err.code, 'HTTP_BODY_TOO_LARGE');
        return true;
      });
      await waitFor(() => server.closed === server.connections);
      assert.ok(sent < 64 * 1024 * 1024, `the server sent ${sent} bytes before the close`);
    } finally {
      await client.close();
    }
  });

  test('fails with HTTP_HEADERS_TIMEOUT when the server never answers', async () => {
    const server = await serve(() => {});
    const client = new HttpClient({ headersTimeoutMs: 100 });
    try {
      await assert.rejects(
        client.request({ url: server.origin }),
        rejectsWithCode('HTTP_HEADERS_TIMEOUT'),
      );
    } finally {
      await client.close();
    }
  });

  test('fails the body with HTTP_BODY_TIMEOUT when the server stops sending', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part');
    });
    const client = new HttpClient({ bodyTimeoutMs: 100 });
    try {
      const res = await client.request({ url: server.origin });
      await assert.rejects(res.body.text(), rejectsWithCode('HTTP_BODY_TIMEOUT'));
    } finally {
      await client.close();
    }
  });

  test('does not time out a reader that is slower than the body timeout', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024, 7);
    const server = await serve((_req, res) => res.end(payload));
    const client = new HttpClient({ bodyTimeoutMs: 100 });
    try {
      const res = await client.request({ url: server.origin });
      let total = 0;
      for await (const chunk of res.body) {
        if (total === 0) await sleep(300);
        total += (chunk as Buffer).length;
      }
      assert.equal(total, payload.length);
    } finally {
      await client.close();
    }
  });

  test('fails with ECONNRESET when the server closes the connection without answering', async () => {
    const server = await serve((req) => req.socket.destroy());
    const client = new HttpClient();
    try {
      await assert.rejects(client.request({ url: server.origin }), rejectsWithCode('ECONNRESET'));
    } finally {
      await client.close();
    }
  });

  test('fails the body with ECONNRESET when the connection drops before its end', async () => {
    const server = await serve((req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('ten bytes.', () => setTimeout(() => req.socket.destroy(), 20));
    });
    const client = new HttpClient();
    try {
      const res = await client.request({ url: server.origin });
      await assert.rejects(res.body.buffer(), rejectsWithCode('ECONNRESET'));
    } finally {
      await client.close();
    }
  });

  test('fails with ECONNREFUSED when nothing listens', async () => {
    const server = await serve(() => {});
    await server.stop();
    const client = new HttpClient();
    await assert.rejects(client.request({ url: server.origin }), rejectsWithCode('ECONNREFUSED'));
  });

  test('rejects with the abort reason when the signal fires before the answer', async () => {
    const server = await serve(() => {});
    const client = new HttpClient();
    try {
      const reason = new Error('stop');
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 50);
      await assert.rejects(
        client.request({ url: server.origin, signal: controller.signal }),
        (e) => {
          assert.equal(e, reason);
          return true;
        },
      );
    } finally {
      await client.close();
    }
  });
});

describe('HttpClient redirects', () => {
  test('keeps Authorization on the same origin and drops it on another', async () => {
    const seen: (string | undefined)[] = [];
    const storage = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.end('blob');
    });
    const registry = await serve((req, res) => {
      seen.push(req.headers.authorization);
      if (req.url === '/first') res.writeHead(307, { location: '/second' }).end();
      else res.writeHead(302, { location: `${storage.origin}/signed?x=1` }).end();
    });
    const client = new HttpClient();
    try {
      const res = await client.request({
        url: `${registry.origin}/first`,
        headers: { Authorization: 'Bearer secret' },
        maxRedirects: 5,
      });
      assert.equal(await res.body.text(), 'blob');
      assert.equal(res.url, `${storage.origin}/signed?x=1`);
      assert.deepEqual(seen, ['Bearer secret', 'Bearer secret', undefined]);
    } finally {
      await client.close();
    }
  });

  test('returns the 3xx past the redirect limit, and for methods other than GET and HEAD', async () => {
    const server = await serve((req, res) => {
      res.writeHead(302, { location: `/${Number(req.url?.slice(1) ?? 0) + 1}` }).end();
    });
    const client = new HttpClient();
    try {
      const limited = await client.request({ url: `${server.origin}/0`, maxRedirects: 2 });
      assert.equal(limited.status, 302);
      assert.equal(limited.url, `${server.origin}/2`);
      await limited.body.dump();
      const post = await client.request({
        method: 'POST',
        url: `${server.origin}/0`,
        body: 'x',
        maxRedirects: 2,
      });
      assert.equal(post.status, 302);
      assert.equal(post.url, `${server.origin}/0`);
      await post.body.dump();
    } finally {
      await client.close();
    }
  });
});

describe('HttpClient request bodies', () => {
  async function echoServer() {
    return serve(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      res.end(
        JSON.stringify({
          length: req.headers['content-length'] ?? null,
          encoding: req.headers['transfer-encoding'] ?? null,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  }

  test('streams a Readable body chunked when no length is given', async () => {
    const server = await echoServer();
    const client = new HttpClient();
    try {
      const body = Readable.from(
        (async function* () {
          for (let i = 0; i < 5; i++) {
            await sleep(5);
            yield Buffer.from(`part${i};`);
          }
        })(),
      );
      const res = await client.request({ method: 'PATCH', url: server.origin, body });
      assert.deepEqual(await res.body.json(), {
        length: null,
        encoding: 'chunked',
        body: 'part0;part1;part2;part3;part4;',
      });
    } finally {
      await client.close();
    }
  });

  test('sends a stream with the Content-Length given, and a Buffer with its own', async () => {
    const server = await echoServer();
    const client = new HttpClient();
    try {
      const streamed = await client.request({
        method: 'PUT',
        url: server.origin,
        headers: { 'content-length': '5' },
        body: Readable.from([Buffer.from('he'), Buffer.from('llo')]),
      });
      assert.deepEqual(await streamed.body.json(), { length: '5', encoding: null, body: 'hello' });
      const buffered = await client.request({
        method: 'PUT',
        url: server.origin,
        body: Buffer.from('buffer'),
      });
      assert.deepEqual(await buffered.body.json(), {
        length: '6',
        encoding: null,
        body: 'buffer',
      });
    } finally {
      await client.close();
    }
  });

  test('rejects with the body stream own error, not as a network failure', async () => {
    const server = await echoServer();
    const client = new HttpClient();
    try {
      const failure = new Error('disk went away');
      const body = new Readable({
        read() {
          this.push('start');
          this.destroy(failure);
        },
      });
      await assert.rejects(client.request({ method: 'PUT', url: server.origin, body }), (e) => {
        assert.equal(e, failure);
        return true;
      });
    } finally {
      await client.close();
    }
  });
});
