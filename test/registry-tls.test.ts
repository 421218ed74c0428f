import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryError } from '../src/errors.js';
import { anonymous } from '../src/registry/credentials.js';
import { RegistryClient } from '../src/registry/registry-client.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { selfSigned } from './support/self-signed.js';

let dir: string;
let registry: TestRegistry;
let certPath: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-registry-tls-'));
  let keyPath: string;
  ({ certPath, keyPath } = await selfSigned(dir, 'registry', '127.0.0.1'));
  registry = await startRegistry({ tls: { certPath, keyPath } });
});
after(async () => {
  await registry.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function tags(client: RegistryClient): Promise<unknown> {
  try {
    return await client.listTags(`${registry.host}/none`);
  } catch (err) {
    return err;
  } finally {
    await client.close();
  }
}

describe('TLS to a loopback registry', () => {
  test('verifies the server with a CA from certs.d/HOST:PORT', async () => {
    const certsDir = path.join(dir, 'certs.d');
    await fs.mkdir(path.join(certsDir, registry.host), { recursive: true });
    await fs.copyFile(certPath, path.join(certsDir, registry.host, 'ca.crt'));
    const err = await tags(new RegistryClient({ credentials: anonymous, certsDir }));
    // NAME_UNKNOWN proves the HTTPS exchange worked end to end.
    assert.ok(err instanceof RegistryError && err.code === 'REGISTRY_NOT_FOUND', String(err));
  });

  test('verifies the server with an extra CA file for the host', async () => {
    const client = new RegistryClient({
      credentials: anonymous,
      certsDir: path.join(dir, 'empty'),
      caFiles: [{ host: registry.host, path: certPath }],
    });
    const err = await tags(client);
    assert.ok(err instanceof RegistryError && err.code === 'REGISTRY_NOT_FOUND', String(err));
  });

  test('accepts the unverified certificate when the host is listed as insecure', async () => {
    const client = new RegistryClient({
      credentials: anonymous,
      certsDir: path.join(dir, 'empty'),
      insecure: [registry.host],
    });
    const err = await tags(client);
    assert.ok(err instanceof RegistryError && err.code === 'REGISTRY_NOT_FOUND', String(err));
  });

  test('refuses a certificate signed by another CA with REGISTRY_TLS', async () => {
    const other = (await selfSigned(dir, 'other')).certPath;
    const client = new RegistryClient({
      credentials: anonymous,
      certsDir: path.join(dir, 'empty'),
      caFiles: [{ host: registry.host, path: other }],
      retry: { retries: 0 },
    });
    const err = await tags(client);
    assert.ok(err instanceof RegistryError && err.code === 'REGISTRY_TLS', String(err));
    assert.match(String(err.hint), /certs\.d/);
  });

  test('speaks plain HTTP to a loopback host with no TLS settings', async () => {
    const client = new RegistryClient({
      credentials: anonymous,
      certsDir: path.join(dir, 'empty'),
      retry: { retries: 0 },
    });
    const err = await tags(client);
    // The TLS listener answers plain HTTP with 400, which shows HTTP was used.
    assert.ok(err instanceof RegistryError && err.status === 400, String(err));
    assert.match(String(err.hint), /speaks HTTPS.*certs\.d/);
  });
});
