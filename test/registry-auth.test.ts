import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryError } from '../src/errors.js';
import { anonymous, FileCredentialProvider } from '../src/registry/credentials.js';
import { OCI_MANIFEST } from '../src/registry/media-types.js';
import { parseReference } from '../src/registry/reference.js';
import { RegistryClient } from '../src/registry/registry-client.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { configFor, ociManifest, randomBlob, readAll } from './support/image-fixtures.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const fastRetry = { retries: 1, minDelayMs: 10, maxDelayMs: 20 };
let work: string;
before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-registry-auth-'));
});
after(() => fs.rm(work, { recursive: true, force: true }));

/** A client reading credentials from a docker config.json in a temp DOCKER_CONFIG. */
async function clientWithLogin(host: string, user: string, password: string) {
  const dir = await fs.mkdtemp(path.join(work, 'docker-'));
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  await fs.writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify({ auths: { [host]: { auth } } }),
  );
  const credentials = new FileCredentialProvider({ env: { HOME: work, DOCKER_CONFIG: dir } });
  return new RegistryClient({ credentials, retry: fastRetry });
}

async function roundTrip(client: RegistryClient, host: string, repo: string) {
  const config = configFor('linux', 'amd64');
  const layer = randomBlob(1000);
  for (const b of [config, layer]) await client.pushBlob(`${host}/${repo}`, b, b.open);
  const ref = parseReference(`${host}/${repo}:v1`);
  const pushed = await client.putManifest(ref, ociManifest(config, [layer]), OCI_MANIFEST);
  assert.equal((await client.getManifest(ref)).digest, pushed.digest);
  assert.deepEqual(
    await readAll(await client.getBlob(`${host}/${repo}`, layer.digest)),
    layer.bytes,
  );
}

function unauthorizedWithout(secret: string) {
  return (err: unknown) => {
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
    const shown = `${err.message} ${err.hint} ${err.reference} ${JSON.stringify(err)}`;
    assert.ok(!shown.includes(secret), 'the password must not appear in the error');
    assert.ok(!shown.includes(Buffer.from(`kiln:${secret}`).toString('base64')));
    return true;
  };
}

describe('no auth', () => {
  test('pushes and pulls anonymously', async () => {
    const registry = await startRegistry({ auth: 'none' });
    const client = new RegistryClient({ credentials: anonymous });
    try {
      await roundTrip(client, registry.host, 'open');
    } finally {
      await client.close();
      await registry.stop();
    }
  });
});

describe('htpasswd (Basic) auth', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ auth: 'htpasswd' });
  });
  after(() => registry.stop());

  test('pushes and pulls with credentials from DOCKER_CONFIG/config.json', async () => {
    const client = await clientWithLogin(registry.host, 'kiln', 'kiln-secret');
    try {
      await roundTrip(client, registry.host, 'basic');
    } finally {
      await client.close();
    }
  });

  test('fails with REGISTRY_UNAUTHORIZED and a login hint without credentials', async () => {
    const client = new RegistryClient({ credentials: anonymous, retry: fastRetry });
    try {
      await assert.rejects(
        client.getManifest(parseReference(`${registry.host}/basic:v1`)),
        (err) => {
          assert.match(String((err as RegistryError).hint), /docker login/);
          return unauthorizedWithout('kiln-secret')(err);
        },
      );
    } finally {
      await client.close();
    }
  });

  test('fails with REGISTRY_UNAUTHORIZED for a wrong password and never shows it', async () => {
    const client = await clientWithLogin(registry.host, 'kiln', 'wrong-pass-123');
    try {
      await assert.rejects(
        client.getManifest(parseReference(`${registry.host}/basic:v1`)),
        unauthorizedWithout('wrong-pass-123'),
      );
    } finally {
      await client.close();
    }
  });

  test('does not send the Authorization header to another host on a blob redirect', async () => {
    const client = await clientWithLogin(registry.host, 'kiln', 'kiln-secret');
    const layer = randomBlob(700);
    await client.pushBlob(`${registry.host}/redir`, layer, layer.open);
    // A deliberate fake "object storage" on another loopback origin serves the blob; the proxy in
    // front of the registry redirects authorized blob GETs there, as S3-backed registries do.
    const storage = await startFaultProxy(registry.host, () => ({
      kind: 'status',
      status: 200,
      body: layer.bytes,
    }));
    const blobPath = `/v2/redir/blobs/${layer.digest}`;
    const front = await startFaultProxy(registry.host, (r) =>
      r.method === 'GET' && r.url === blobPath && r.authorization
        ? {
            kind: 'status',
            status: 307,
            headers: { location: `http://${storage.host}${blobPath}?sig=x` },
          }
        : { kind: 'pass' },
    );
    const viaFront = await clientWithLogin(front.host, 'kiln', 'kiln-secret');
    try {
      const body = await readAll(await viaFront.getBlob(`${front.host}/redir`, layer.digest));
      assert.deepEqual(body, layer.bytes);
      assert.ok(
        front.seen.some((r) => r.url === blobPath && r.authorization),
        'registry got auth',
      );
      assert.ok(storage.seen.length > 0, 'the redirect was followed');
      assert.ok(
        storage.seen.every((r) => r.authorization === undefined),
        'storage got no auth',
      );
    } finally {
      await viaFront.close();
      await client.close();
      await front.stop();
      await storage.stop();
    }
  });
});

describe('token (Bearer) auth', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({
      auth: 'token',
      // Anonymous callers may pull public/*; users may do anything.
      grant: (user, repo, actions) =>
        user ? actions : repo.startsWith('public/') ? actions.filter((a) => a === 'pull') : [],
    });
  });
  after(() => registry.stop());

  test('pushes and pulls with a token fetched with the stored credentials', async () => {
    const client = await clientWithLogin(registry.host, 'kiln', 'kiln-secret');
    try {
      await roundTrip(client, registry.host, 'public/app');
      const scopes = registry.tokenServer!.requests.flatMap((r) => r.scopes);
      assert.ok(scopes.includes('repository:public/app:pull,push'));
      assert.ok(registry.tokenServer!.requests.every((r) => r.user === 'kiln'));
    } finally {
      await client.close();
    }
  });

  test('reuses a cached token for the same scope', async () => {
    const client = await clientWithLogin(registry.host, 'kiln', 'kiln-secret');
    try {
      const ref = parseReference(`${registry.host}/public/app:v1`);
      await client.getManifest(ref);
      const before = registry.tokenServer!.requests.length;
      await client.getManifest(ref);
      await client.headManifest(ref);
      assert.equal(registry.tokenServer!.requests.length, before);
    } finally {
      await client.close();
    }
  });

  test('asks for pull on the source and pull,push on the target for a mount', async () => {
    const client = await clientWithLogin(registry.host, 'kiln', 'kiln-secret');
    try {
      const blob = randomBlob(64);
      await client.pushBlob(`${registry.host}/src`, blob, blob.open);
      const result = await client.pushBlob(`${registry.host}/dst`, blob, blob.open, {
        mountFrom: 'src',
      });
      assert.deepEqual(result, { status: 'mounted' });
      const last = registry.tokenServer!.requests.at(-1)!;
      assert.deepEqual(last.scopes.sort(), ['repository:dst:pull,push', 'repository:src:pull']);
    } finally {
      await client.close();
    }
  });

  test('pulls anonymously with an anonymous token and cannot push that way', async () => {
    const client = new RegistryClient({ credentials: anonymous, retry: fastRetry });
    try {
      const ref = parseReference(`${registry.host}/public/app:v1`);
      await client.getManifest(ref);
      assert.equal(registry.tokenServer!.requests.at(-1)?.user, undefined);
      const blob = randomBlob(10);
      await assert.rejects(
        client.pushBlob(`${registry.host}/public/app`, blob, blob.open),
        unauthorizedWithout('kiln-secret'),
      );
    } finally {
      await client.close();
    }
  });

  test('fails with REGISTRY_UNAUTHORIZED when the token server rejects the password', async () => {
    const client = await clientWithLogin(registry.host, 'kiln', 'bad-token-pass');
    try {
      await assert.rejects(
        client.getManifest(parseReference(`${registry.host}/public/app:v1`)),
        unauthorizedWithout('bad-token-pass'),
      );
    } finally {
      await client.close();
    }
  });
});
