import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { KilnError } from '../errors.js';
import { parseSecret, parseSsh } from './build-options.js';

test('--secret src= is a file resolved against the working directory', () => {
  assert.deepEqual(parseSecret('id=tok,src=a/t.txt', '/w', {}), {
    id: 'tok',
    source: { kind: 'file', path: '/w/a/t.txt' },
  });
});

test('--secret env= and type=env,src= name an environment variable', () => {
  const env = { kind: 'env', name: 'MY_TOKEN' };
  assert.deepEqual(parseSecret('id=tok,env=MY_TOKEN', '/w', {}).source, env);
  assert.deepEqual(parseSecret('type=env,id=tok,src=MY_TOKEN', '/w', {}).source, env);
});

test('--secret id= alone uses the variable of that name when set, else the file', () => {
  assert.deepEqual(parseSecret('id=TOK', '/w', { TOK: 'x' }).source, { kind: 'env', name: 'TOK' });
  assert.deepEqual(parseSecret('id=TOK', '/w', {}).source, { kind: 'file', path: '/w/TOK' });
});

test('--secret refuses unknown fields and a missing id', () => {
  assert.throws(() => parseSecret('id=a,value=x', '/w', {}), /unknown field "value"/);
  assert.throws(() => parseSecret('src=f', '/w', {}), /needs id=/);
});

async function withSocket(fn: (dir: string, sock: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-sshflag-'));
  const sock = path.join(dir, 'agent.sock');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  try {
    await fn(dir, sock);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}

test('--ssh default takes SSH_AUTH_SOCK; ID=PATH names the socket', async () => {
  await withSocket(async (dir, sock) => {
    assert.deepEqual(parseSsh('default', '/', { SSH_AUTH_SOCK: sock }), {
      id: 'default',
      socket: sock,
    });
    assert.deepEqual(parseSsh('deploy=agent.sock', dir, {}), { id: 'deploy', socket: sock });
  });
});

test('--ssh without an agent, or with a key file, fails with a hint', async () => {
  await withSocket(async (dir) => {
    const key = path.join(dir, 'id_ed25519');
    await writeFile(key, 'not a socket');
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof KilnError);
        assert.ok(err.hint === undefined || err.hint.length > 0);
        return err.code;
      }
      return undefined;
    };
    assert.equal(
      code(() => parseSsh('default', '/', {})),
      'SSH_NO_AGENT',
    );
    assert.equal(
      code(() => parseSsh(`default=${key}`, '/', {})),
      'SSH_KEY_UNSUPPORTED',
    );
    assert.equal(
      code(() => parseSsh('default=/nonexistent.sock', '/', {})),
      'SSH_NO_AGENT',
    );
  });
});
