/**
 * HTTP_PROXY, HTTPS_PROXY and NO_PROXY for ADD downloads and registry pulls, through a real
 * proxy (tinyproxy, test/support/proxy.ts). The targets listen on 127.0.0.1 under a name that
 * only the proxy can resolve: a build that reaches them went through the proxy, and one that
 * tries them directly fails to resolve the name.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readTar } from '../src/image/tar/tar-reader.js';
import { type FileServer, startFileServer } from './add-support.js';
import { pushFixture } from './support/images.js';
import { runKiln } from './support/kiln.js';
import { startProxy, type TestProxy } from './support/proxy.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { selfSigned } from './support/self-signed.js';

const NAME = 'kiln-proxied.test';
const PROXY_VARS = /^(https?|no|all|ftp)_proxy$/i;

describe('proxies from the environment', () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let files: FileServer;
  let tlsServer: Server;
  let tlsPort: number;
  let caFile: string;
  let base: string;
  let work: string;
  let counter = 0;

  async function build(dockerfile: string, env: Record<string, string>, args: string[] = []) {
    const dir = join(work, `build-${++counter}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !PROXY_VARS.test(k)),
    );
    const out = join(dir, 'out.tar');
    const res = await runKiln(
      [
        'build',
        '--progress=plain',
        '--cache-dir',
        join(dir, 'cache'),
        '-o',
        `type=tar,dest=${out}`,
        ...args,
        dir,
      ],
      { env: { ...clean, ...env } },
    );
    const tree = new Map<string, string>();
    if (res.code === 0) {
      for await (const { entry, content } of readTar(createReadStream(out))) {
        const chunks: Buffer[] = [];
        for await (const chunk of content) chunks.push(chunk);
        tree.set(entry.path, Buffer.concat(chunks).toString());
      }
    }
    return { ...res, tree };
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-proxy-test-'));
    await chmod(work, 0o755);
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    proxy = await startProxy([NAME]);
    files = await startFileServer({
      '/data.txt': (_req, res) => res.end('over plain http\n'),
    });
    const cert = await selfSigned(work, NAME);
    caFile = cert.certPath;
    tlsServer = createServer(
      { key: await readFile(cert.keyPath), cert: await readFile(cert.certPath) },
      (_req, res) => res.end('over a tunnel\n'),
    );
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    tlsPort = (tlsServer.address() as { port: number }).port;
  });
  after(async () => {
    await proxy?.stop();
    await files?.stop();
    await new Promise((resolve) => tlsServer?.close(resolve));
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const plainUrl = () => `http://${NAME}:${new URL(files.origin).port}/data.txt`;

  it('cannot reach the proxied name without the proxy (the control)', async () => {
    const res = await build(`FROM ${base}\nADD ${plainUrl()} /data.txt\n`, {});
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /ENOTFOUND|EAI_AGAIN/);
  });

  it('downloads an http URL through HTTP_PROXY, and through lower-case http_proxy', async () => {
    for (const name of ['HTTP_PROXY', 'http_proxy']) {
      const res = await build(`FROM ${base}\nADD ${plainUrl()} /data.txt\n`, {
        [name]: proxy.url,
      });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.tree.get('data.txt'), 'over plain http\n');
    }
    assert.match(await proxy.log(), new RegExp(`${NAME}:${new URL(files.origin).port}`));
  });

  it('tunnels an https URL through HTTPS_PROXY with CONNECT, verifying the target', async () => {
    const url = `https://${NAME}:${tlsPort}/data.txt`;
    const res = await build(`FROM ${base}\nADD ${url} /data.txt\n`, {
      HTTPS_PROXY: proxy.url,
      NODE_EXTRA_CA_CERTS: caFile,
    });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.tree.get('data.txt'), 'over a tunnel\n');
    assert.match(await proxy.log(), new RegExp(`CONNECT ${NAME}:${tlsPort}`, 'i'));

    const untrusted = await build(`FROM ${base}\nADD ${url} /data.txt\n`, {
      HTTPS_PROXY: proxy.url,
    });
    assert.equal(untrusted.code, 1, 'TLS runs end to end: the target is still verified');
  });

  it('connects directly to NO_PROXY hosts', async () => {
    for (const noProxy of [NAME, '.test', `${NAME}:${new URL(files.origin).port}`, '*']) {
      const res = await build(`FROM ${base}\nADD ${plainUrl()} /data.txt\n`, {
        HTTP_PROXY: proxy.url,
        no_proxy: noProxy,
      });
      assert.equal(res.code, 1, `${noProxy}: ${res.stderr}`);
      assert.match(res.stderr, /ENOTFOUND|EAI_AGAIN/, noProxy);
    }
  });

  it('pulls a base image through the proxy', async () => {
    const host = `${NAME}:${registry.host.split(':')[1]}`;
    const ref = base.replace(registry.host, host);
    const res = await build(
      `FROM ${ref}\nRUN echo pulled > /pulled\n`,
      { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url },
      ['--insecure-registry', host],
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.tree.get('pulled'), 'pulled\n');
    assert.match(await proxy.log(), new RegExp(`${host}/v2/`));
  });
});
