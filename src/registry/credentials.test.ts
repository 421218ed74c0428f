import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError, RegistryError } from '../errors.js';
import {
  credentialFiles,
  entryCredential,
  FileCredentialProvider,
  keyHost,
  parseDockerConfig,
  runCredentialHelper,
} from './credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-creds-'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

async function writeConfig(name: string, config: unknown): Promise<string> {
  const d = path.join(dir, name);
  await fs.mkdir(d, { recursive: true });
  await fs.writeFile(path.join(d, 'config.json'), JSON.stringify(config));
  return d;
}

describe('config.json parsing', () => {
  test('decodes a base64 auth entry, keeping colons in the password', () => {
    assert.deepEqual(entryCredential({ auth: b64('me:pa:ss') }, 'f'), {
      kind: 'basic',
      username: 'me',
      password: 'pa:ss',
    });
  });

  test('reads username/password, identitytoken and registrytoken entries', () => {
    assert.deepEqual(entryCredential({ username: 'u', password: 'p' }, 'f'), {
      kind: 'basic',
      username: 'u',
      password: 'p',
    });
    assert.deepEqual(entryCredential({ auth: b64('u:'), identitytoken: 'refresh' }, 'f'), {
      kind: 'identity-token',
      username: 'u',
      token: 'refresh',
    });
    assert.deepEqual(entryCredential({ registrytoken: 'bearer' }, 'f'), {
      kind: 'registry-token',
      token: 'bearer',
    });
  });

  test('treats an empty entry (a credsStore placeholder) as no credentials', () => {
    assert.equal(entryCredential({}, 'f'), undefined);
  });

  test('rejects an auth value without a colon and a file that is not JSON', () => {
    assert.throws(() => entryCredential({ auth: b64('nocolon') }, 'f'), InputError);
    assert.throws(() => parseDockerConfig('{', '/x/config.json'), /config\.json is not valid JSON/);
  });

  test('reduces config keys to their host', () => {
    assert.equal(keyHost('https://index.docker.io/v1/'), 'index.docker.io');
    assert.equal(keyHost('http://Reg.Example:5000'), 'reg.example:5000');
    assert.equal(keyHost('quay.io/team'), 'quay.io');
  });

  test('searches DOCKER_CONFIG, then REGISTRY_AUTH_FILE, then XDG_RUNTIME_DIR', () => {
    const env = {
      HOME: '/h',
      DOCKER_CONFIG: '/d',
      REGISTRY_AUTH_FILE: '/a.json',
      XDG_RUNTIME_DIR: '/r',
    };
    assert.deepEqual(credentialFiles(env), [
      '/d/config.json',
      '/a.json',
      '/r/containers/auth.json',
      '/h/.config/containers/auth.json',
    ]);
    assert.equal(credentialFiles({ HOME: '/h' })[0], '/h/.docker/config.json');
  });
});

describe('FileCredentialProvider', () => {
  test('finds docker.io credentials under the legacy index key', async () => {
    const d = await writeConfig('hub', {
      auths: { 'https://index.docker.io/v1/': { auth: b64('hubuser:hubpw') } },
    });
    const provider = new FileCredentialProvider({ env: { HOME: dir, DOCKER_CONFIG: d } });
    assert.deepEqual(await provider.get('docker.io'), {
      kind: 'basic',
      username: 'hubuser',
      password: 'hubpw',
    });
    assert.equal(await provider.get('ghcr.io'), undefined);
  });

  test('prefers credHelpers over auths and asks the helper with the server URL', async () => {
    const d = await writeConfig('helpers', {
      auths: { 'reg.example': { auth: b64('file:pw') }, 'other.example': { auth: b64('o:p') } },
      credHelpers: { 'reg.example': 'fake' },
    });
    const asked: string[] = [];
    const provider = new FileCredentialProvider({
      env: { HOME: dir, DOCKER_CONFIG: d },
      runHelper: async (helper, url) => {
        asked.push(`${helper} ${url}`);
        return JSON.stringify({ ServerURL: url, Username: 'helped', Secret: 's3cret' });
      },
    });
    assert.deepEqual(await provider.get('reg.example'), {
      kind: 'basic',
      username: 'helped',
      password: 's3cret',
    });
    assert.deepEqual(await provider.get('other.example'), {
      kind: 'basic',
      username: 'o',
      password: 'p',
    });
    assert.deepEqual(asked, ['fake reg.example']);
  });

  test('falls back to credsStore and reads <token> as an identity token', async () => {
    const d = await writeConfig('store', { auths: { 'reg.example': {} }, credsStore: 'desktop' });
    const provider = new FileCredentialProvider({
      env: { HOME: dir, DOCKER_CONFIG: d },
      runHelper: async () => JSON.stringify({ Username: '<token>', Secret: 'refresh' }),
    });
    assert.deepEqual(await provider.get('reg.example'), {
      kind: 'identity-token',
      username: '',
      token: 'refresh',
    });
  });

  test('reads podman auth.json from REGISTRY_AUTH_FILE when config.json has nothing', async () => {
    const authFile = path.join(dir, 'podman-auth.json');
    await fs.writeFile(
      authFile,
      JSON.stringify({ auths: { 'quay.io/team': { auth: b64('p:q') } } }),
    );
    const provider = new FileCredentialProvider({
      env: { HOME: dir, DOCKER_CONFIG: path.join(dir, 'none'), REGISTRY_AUTH_FILE: authFile },
    });
    assert.deepEqual(await provider.get('quay.io'), {
      kind: 'basic',
      username: 'p',
      password: 'q',
    });
  });

  test('runs a real docker-credential helper found on PATH', async () => {
    const bin = path.join(dir, 'bin');
    await fs.mkdir(bin, { recursive: true });
    const script = path.join(bin, 'docker-credential-kilntest');
    await fs.writeFile(
      script,
      '#!/bin/sh\nread url\nif [ "$url" = "known.example" ]; then\n' +
        '  printf \'{"ServerURL":"%s","Username":"u","Secret":"from-helper"}\' "$url"\n' +
        'else echo "credentials not found in native keychain"; exit 1; fi\n',
      { mode: 0o755 },
    );
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      assert.match((await runCredentialHelper('kilntest', 'known.example')) ?? '', /from-helper/);
      assert.equal(await runCredentialHelper('kilntest', 'unknown.example'), undefined);
      await assert.rejects(runCredentialHelper('kiln-missing', 'x'), (err: unknown) => {
        return err instanceof RegistryError && /is not installed/.test(err.message);
      });
    } finally {
      process.env.PATH = saved;
    }
  });
});
