/**
 * NODE_EXTRA_CA_CERTS is honoured as Node programs honour it, in the first process and in the
 * namespaced child (which gets the path under another name, so Node does not parse the bundle at
 * its start): an ADD from an HTTPS server on loopback whose certificate only that file trusts.
 * Run as a program (npm's bin link), the bundle's launcher lines move the variable before Node
 * starts, for the same reason; Node's warning about an unreadable file shows whether Node saw it.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { childTlsEnv, EXTRA_CA_ENV } from '../src/net/extra-ca.js';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { KILN_BIN, runKiln, runKilnProgram } from './support/kiln.js';
import { selfSigned } from './support/self-signed.js';

describe('NODE_EXTRA_CA_CERTS', () => {
  const env = useBusyboxRegistry('extra-ca');
  let server: Server;
  let url: string;
  let certPath: string;

  before(async () => {
    let keyPath: string;
    ({ certPath, keyPath } = await selfSigned(env.work, 'server', '127.0.0.1'));
    const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
    server = createServer({ cert, key }, (_req, res) => res.end('over tls\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hello.txt`;
  });
  after(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function build(name: string, extraEnv: NodeJS.ProcessEnv, run = runKiln) {
    const ctx = join(env.work, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${env.base}\nADD ${url} /hello.txt\nRUN cat /hello.txt > /copy.txt\n`,
    );
    const out = join(env.work, `${name}-out`);
    const { NODE_EXTRA_CA_CERTS: _host, ...base } = process.env;
    const res = await run(
      ['build', '--progress=plain', '--cache-dir', join(env.work, `${name}-cache`), '-o', out, ctx],
      { env: { ...base, ...extraEnv } },
    );
    return { res, out };
  }

  it('trusts the CA it names, in the namespaced child too', async () => {
    const { res, out } = await build('trusted', { NODE_EXTRA_CA_CERTS: certPath });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readFile(join(out, 'copy.txt'), 'utf8'), 'over tls\n');
  });

  it('trusts the CA it names when started as a program, as npx starts it', async () => {
    const { res, out } = await build('program', { NODE_EXTRA_CA_CERTS: certPath }, (args, opts) =>
      runKilnProgram(args, opts),
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readFile(join(out, 'copy.txt'), 'utf8'), 'over tls\n');
  });

  it('keeps the variable from Node when started as a program through a bin link', async () => {
    const link = join(env.work, 'kiln');
    await symlink(KILN_BIN, link);
    const { NODE_EXTRA_CA_CERTS: _host, ...base } = process.env;
    const opts = { env: { ...base, NODE_EXTRA_CA_CERTS: join(env.work, 'no-such.pem') } };
    // Under node directly, Node itself reads the variable and warns that the file is missing.
    const direct = await runKiln(['--version'], opts);
    assert.equal(direct.code, 0, direct.stderr);
    assert.match(direct.stderr, /Ignoring extra certs/);
    const program = await runKilnProgram(['--version'], opts, link);
    assert.equal(program.code, 0, program.stderr);
    assert.equal(program.stdout, direct.stdout);
    assert.doesNotMatch(program.stderr, /Ignoring extra certs/);
  });

  it('refuses the same server without it', async () => {
    const { res } = await build('untrusted', {});
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /certificate/i);
  });

  it('moves the path to its own variable for a child process', () => {
    const moved = childTlsEnv({ NODE_EXTRA_CA_CERTS: '/x.pem', PATH: '/bin' });
    assert.deepEqual(moved, { [EXTRA_CA_ENV]: '/x.pem', PATH: '/bin' });
    assert.deepEqual(childTlsEnv({ PATH: '/bin' }), { PATH: '/bin' });
  });
});
