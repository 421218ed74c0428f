/**
 * A file server on 127.0.0.1 for `ADD <url>` cases. BuildKit fetches URLs from its daemon,
 * which runs in the host's network namespace, so loopback reaches it; kiln fetches them itself.
 * Routes (every other path is 404):
 *   /hello.txt          text with a Last-Modified header
 *   /no-date.txt        text without Last-Modified
 *   /data.tar.gz        a real gzip'd tar (ADD of a URL never unpacks)
 *   /dir/script.sh      a script, also reached with a query string
 *   /moved              301 to /hello.txt
 *   /attachment         text with Content-Disposition: attachment; filename="from-header.txt"
 */
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import { join } from 'node:path';
import { run } from './process.mjs';

const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';

async function makeArchive(work) {
  const dir = join(work, 'http-archive');
  await fsp.mkdir(join(dir, 'pkg'), { recursive: true });
  await fsp.writeFile(join(dir, 'pkg', 'inside.txt'), 'inside the archive\n');
  const archive = join(work, 'data.tar.gz');
  await run('tar', ['-czf', archive, '--mtime=@1000000000', '-C', dir, 'pkg']);
  return fsp.readFile(archive);
}

export async function startHttpServer(work) {
  const archive = await makeArchive(work);
  const routes = {
    '/hello.txt': { body: 'hello over http\n', headers: { 'Last-Modified': LAST_MODIFIED } },
    '/no-date.txt': { body: 'no date\n', headers: {} },
    '/data.tar.gz': { body: archive, headers: { 'Last-Modified': LAST_MODIFIED } },
    '/dir/script.sh': {
      body: '#!/bin/sh\necho from a script\n',
      headers: { 'Last-Modified': LAST_MODIFIED },
    },
    '/moved': { status: 301, body: '', headers: { Location: '/hello.txt' } },
    '/attachment': {
      body: 'named by the server\n',
      headers: { 'Content-Disposition': 'attachment; filename="from-header.txt"' },
    },
  };
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url, 'http://x').pathname];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    const body = Buffer.from(route.body);
    res.writeHead(route.status ?? 200, { 'Content-Length': body.length, ...route.headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, stop: () => new Promise((r) => server.close(r)) };
}
