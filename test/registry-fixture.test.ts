import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HttpClient } from '../src/net/http-client.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { createSigningKey, signToken } from './support/token-server.js';

const http = new HttpClient();
after(() => http.close());

async function status(url: string, headers: Record<string, string> = {}) {
  const res = await http.request({ url, headers });
  await res.body.dump();
  return { status: res.status, challenge: String(res.headers['www-authenticate'] ?? '') };
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('the test registry fixture', () => {
  test('serves /v2/ without auth and removes its directory on stop', async () => {
    const registry = await startRegistry();
    const res = await status(`http://${registry.host}/v2/`);
    assert.equal(res.status, 200);
    await registry.stop();
    const { existsSync } = await import('node:fs');
    assert.equal(existsSync(registry.rootDir), false);
  });

  test('starts several registries at once on distinct ports', async () => {
    const registries = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    try {
      assert.equal(new Set(registries.map((r) => r.host)).size, 3);
      for (const r of registries) assert.equal((await status(`http://${r.host}/v2/`)).status, 200);
    } finally {
      await Promise.all(registries.map((r) => r.stop()));
    }
  });

  test('asks for Basic credentials in htpasswd mode and accepts the bcrypt-hashed user', async () => {
    const registry = await startRegistry({ auth: 'htpasswd' });
    try {
      const anonymous = await status(`http://${registry.host}/v2/`);
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.challenge, /^Basic realm="kiln-test"/);
      const good = await status(`http://${registry.host}/v2/`, {
        authorization: basic('kiln', 'kiln-secret'),
      });
      assert.equal(good.status, 200);
      const bad = await status(`http://${registry.host}/v2/`, {
        authorization: basic('kiln', 'wrong'),
      });
      assert.equal(bad.status, 401);
    } finally {
      await registry.stop();
    }
  });
});

describe('the test registry in token mode', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ auth: 'token' });
  });
  after(() => registry.stop());

  async function fetchToken(scope: string, user = 'kiln', password = 'kiln-secret') {
    const ts = registry.tokenServer!;
    const url = `${ts.realm}?service=${ts.service}&scope=${encodeURIComponent(scope)}`;
    const res = await http.request({ url, headers: { authorization: basic(user, password) } });
    assert.equal(res.status, 200);
    return ((await res.body.json()) as { token: string }).token;
  }

  test('answers 401 with a Bearer challenge naming the realm and service without a token', async () => {
    const res = await status(`http://${registry.host}/v2/a/tags/list`);
    assert.equal(res.status, 401);
    assert.match(res.challenge, /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token"/);
    assert.match(res.challenge, /service="kiln-test-registry"/);
    assert.match(res.challenge, /scope="repository:a:pull"/);
  });

  test('accepts a token for the requested scope', async () => {
    const token = await fetchToken('repository:a:pull');
    const res = await status(`http://${registry.host}/v2/a/tags/list`, {
      authorization: `Bearer ${token}`,
    });
    // The repository does not exist: 404 proves the token passed the auth check.
    assert.equal(res.status, 404);
  });

  test('refuses a token for another repository', async () => {
    const token = await fetchToken('repository:a:pull');
    const res = await status(`http://${registry.host}/v2/b/tags/list`, {
      authorization: `Bearer ${token}`,
    });
    assert.equal(res.status, 401);
    assert.match(res.challenge, /insufficient_scope/);
  });

  test('refuses a token signed by a key the registry does not trust', async () => {
    const rogue = await createSigningKey(path.join(registry.rootDir), 'rogue');
    const ts = registry.tokenServer!;
    const token = signToken(rogue, {
      issuer: ts.issuer,
      audience: ts.service,
      access: [{ type: 'repository', name: 'a', actions: ['pull'] }],
    });
    const res = await status(`http://${registry.host}/v2/a/tags/list`, {
      authorization: `Bearer ${token}`,
    });
    assert.equal(res.status, 401);
  });

  test('refuses a token from the trusted key that has expired', async () => {
    const ts = registry.tokenServer!;
    const token = signToken(ts.key, {
      issuer: ts.issuer,
      audience: ts.service,
      access: [{ type: 'repository', name: 'a', actions: ['pull'] }],
      ttl: -600,
    });
    const res = await status(`http://${registry.host}/v2/a/tags/list`, {
      authorization: `Bearer ${token}`,
    });
    assert.equal(res.status, 401);
  });
});
