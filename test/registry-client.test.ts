import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryError } from '../src/errors.js';
import { anonymous } from '../src/registry/credentials.js';
import { OCI_INDEX, OCI_MANIFEST } from '../src/registry/media-types.js';
import { parseReference } from '../src/registry/reference.js';
import { RegistryClient } from '../src/registry/registry-client.js';
import { startFaultProxy } from './support/fault-proxy.js';
import {
  blobOf,
  configFor,
  ociManifest,
  randomBlob,
  readAll,
  type TestBlob,
} from './support/image-fixtures.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const fastRetry = { retries: 2, minDelayMs: 10, maxDelayMs: 50 };

let registry: TestRegistry;
let client: RegistryClient;
let work: string;

before(async () => {
  registry = await startRegistry();
  client = new RegistryClient({ credentials: anonymous, retry: fastRetry });
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-registry-client-'));
});
after(async () => {
  await client.close();
  await registry.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function ref(text: string) {
  return parseReference(`${registry.host}/${text}`);
}

async function pushImage(repo: string, tag: string, config: TestBlob, layers: TestBlob[]) {
  for (const blob of [config, ...layers]) {
    await client.pushBlob(`${registry.host}/${repo}`, blob, blob.open);
  }
  return client.putManifest(ref(`${repo}:${tag}`), ociManifest(config, layers), OCI_MANIFEST);
}

function isRegistryError(code: string) {
  return (err: unknown) => err instanceof RegistryError && err.code === code;
}

describe('RegistryClient against docker-registry', () => {
  test('pushes blobs and a manifest and pulls them back by tag and by digest', async () => {
    const config = configFor('linux', 'amd64');
    const layer = randomBlob(5000);
    const pushed = await pushImage('app', 'v1', config, [layer]);

    const byTag = await client.getManifest(ref('app:v1'));
    assert.equal(byTag.digest, pushed.digest);
    assert.equal(byTag.mediaType, OCI_MANIFEST);
    const byDigest = await client.getManifest(ref(`app@${pushed.digest}`));
    assert.deepEqual(byDigest.bytes, byTag.bytes);

    const body = await readAll(await client.getBlob(`${registry.host}/app`, layer.digest));
    assert.deepEqual(body, layer.bytes);
    const file = path.join(work, 'layer');
    assert.equal(await client.downloadBlob(`${registry.host}/app`, layer.digest, file), 5000);
    assert.deepEqual(await fs.readFile(file), layer.bytes);
    assert.deepEqual(
      (await fs.readdir(work)).filter((n) => n.endsWith('.part')),
      [],
    );
  });

  test('describes a manifest with HEAD and answers undefined for a missing tag', async () => {
    const pushed = await pushImage('head', 'v1', configFor('linux', 'amd64'), []);
    const desc = await client.headManifest(ref('head:v1'));
    assert.equal(desc?.digest, pushed.digest);
    assert.equal(desc?.mediaType, OCI_MANIFEST);
    assert.equal(await client.headManifest(ref('head:missing')), undefined);
  });

  test('skips a blob the repository already has, without opening it', async () => {
    const blob = randomBlob(100);
    const repo = `${registry.host}/skip`;
    assert.equal(await client.hasBlob(repo, blob.digest), false);
    assert.deepEqual(await client.pushBlob(repo, blob, blob.open), { status: 'uploaded' });
    assert.equal(await client.hasBlob(repo, blob.digest), true);
    let opened = 0;
    const second = await client.pushBlob(repo, blob, () => {
      opened++;
      return blob.open();
    });
    assert.deepEqual(second, { status: 'exists' });
    assert.equal(opened, 0);
  });

  test('uploads a large blob in PATCH chunks and closes with an empty PUT', async () => {
    const proxy = await startFaultProxy(registry.host, () => ({ kind: 'pass' }));
    const chunked = new RegistryClient({
      credentials: anonymous,
      chunkThreshold: 10_000,
      chunkSize: 4096,
    });
    try {
      const blob = randomBlob(20_000);
      const result = await chunked.pushBlob(`${proxy.host}/chunked`, blob, blob.open);
      assert.deepEqual(result, { status: 'uploaded' });
      const methods = proxy.seen.map((r) => r.method);
      assert.deepEqual(methods, [
        'HEAD',
        'POST',
        'PATCH',
        'PATCH',
        'PATCH',
        'PATCH',
        'PATCH',
        'PUT',
      ]);
      const back = await readAll(await client.getBlob(`${registry.host}/chunked`, blob.digest));
      assert.deepEqual(back, blob.bytes);
    } finally {
      await chunked.close();
      await proxy.stop();
    }
  });

  test('mounts a blob from another repository instead of uploading it', async () => {
    const blob = randomBlob(3000);
    await client.pushBlob(`${registry.host}/source`, blob, blob.open);
    let opened = 0;
    const result = await client.pushBlob(
      `${registry.host}/target`,
      blob,
      () => {
        opened++;
        return blob.open();
      },
      { mountFrom: 'source' },
    );
    assert.deepEqual(result, { status: 'mounted' });
    assert.equal(opened, 0);
    assert.equal(await client.hasBlob(`${registry.host}/target`, blob.digest), true);
  });

  test('uploads when the mount source does not have the blob', async () => {
    const blob = randomBlob(300);
    const result = await client.pushBlob(`${registry.host}/target2`, blob, blob.open, {
      mountFrom: 'nowhere',
    });
    assert.deepEqual(result, { status: 'uploaded' });
  });

  test('resolves an index with two platforms to the manifest of the wanted one', async () => {
    const amd = configFor('linux', 'amd64');
    const arm = configFor('linux', 'arm64', 'v8');
    const amdManifest = await pushImage('multi', 'amd64', amd, [randomBlob(10)]);
    const armManifest = await pushImage('multi', 'arm64', arm, [randomBlob(10)]);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { ...amdManifest, platform: { os: 'linux', architecture: 'amd64' } },
          { ...armManifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    const pushedIndex = await client.putManifest(ref('multi:latest'), index, OCI_INDEX);

    const arm64 = await client.resolveImage(ref('multi'), { os: 'linux', architecture: 'arm64' });
    assert.equal(arm64.manifest.digest, armManifest.digest);
    assert.equal(arm64.index?.digest, pushedIndex.digest);
    assert.equal(arm64.reference.digest, armManifest.digest);
    const amd64 = await client.resolveImage(ref('multi'), { os: 'linux', architecture: 'amd64' });
    assert.equal(amd64.manifest.digest, amdManifest.digest);
    const plain = await client.resolveImage(ref('multi:amd64'), {
      os: 'linux',
      architecture: 'arm64',
    });
    assert.equal(plain.index, undefined, 'a plain manifest is taken as it is');

    await assert.rejects(
      client.resolveImage(ref('multi'), { os: 'linux', architecture: 's390x' }),
      (err: unknown) =>
        isRegistryError('REGISTRY_PLATFORM_NOT_FOUND')(err) &&
        /available: linux\/amd64, linux\/arm64\b/.test((err as Error).message),
    );
  });

  test('pushes a manifest by digest alone', async () => {
    const config = configFor('linux', 'amd64');
    await client.pushBlob(`${registry.host}/bydigest`, config, config.open);
    const bytes = ociManifest(config, []);
    const digest = blobOf(bytes).digest;
    const pushed = await client.putManifest(
      parseReference(`${registry.host}/bydigest@${digest}`),
      bytes,
      OCI_MANIFEST,
    );
    assert.equal(pushed.digest, digest);
    const back = await client.getManifest(parseReference(`${registry.host}/bydigest@${digest}`));
    assert.deepEqual(back.bytes, bytes);
  });

  test('lists the tags of a repository', async () => {
    await pushImage('tags', 'a', configFor('linux', 'amd64'), []);
    await pushImage('tags', 'b', configFor('linux', 'amd64'), []);
    assert.deepEqual((await client.listTags(`${registry.host}/tags`)).sort(), ['a', 'b']);
  });

  test('reports a missing manifest and a missing blob as REGISTRY_NOT_FOUND', async () => {
    await assert.rejects(
      client.getManifest(ref('nothing:here')),
      (err: unknown) =>
        isRegistryError('REGISTRY_NOT_FOUND')(err) &&
        /MANIFEST_UNKNOWN|NAME_UNKNOWN/.test(String(err)),
    );
    await assert.rejects(
      client.getBlob(`${registry.host}/app`, randomBlob(1).digest),
      isRegistryError('REGISTRY_NOT_FOUND'),
    );
  });

  test('refuses to push a blob whose content does not match its digest', async () => {
    const real = randomBlob(50);
    const claimed = { digest: randomBlob(50).digest, size: 50 };
    await assert.rejects(
      client.pushBlob(`${registry.host}/liar`, claimed, real.open),
      isRegistryError('REGISTRY_DIGEST_MISMATCH'),
    );
  });

  test('detects a corrupted blob and manifest and leaves no downloaded file', async () => {
    const layer = randomBlob(2000);
    const pushed = await pushImage('corrupt', 'v1', configFor('linux', 'amd64'), [layer]);
    // The fake proxy flips a byte of every GET body.
    const proxy = await startFaultProxy(registry.host, (r) =>
      r.method === 'GET' ? { kind: 'corrupt' } : { kind: 'pass' },
    );
    const viaProxy = new RegistryClient({ credentials: anonymous, retry: fastRetry });
    try {
      const stream = await viaProxy.getBlob(`${proxy.host}/corrupt`, layer.digest);
      await assert.rejects(readAll(stream), isRegistryError('REGISTRY_DIGEST_MISMATCH'));
      const file = path.join(work, 'corrupt-layer');
      await assert.rejects(
        viaProxy.downloadBlob(`${proxy.host}/corrupt`, layer.digest, file),
        isRegistryError('REGISTRY_DIGEST_MISMATCH'),
      );
      await assert.rejects(fs.stat(file), { code: 'ENOENT' });
      assert.deepEqual(
        (await fs.readdir(work)).filter((n) => n.includes('corrupt')),
        [],
      );
      await assert.rejects(
        viaProxy.getManifest(parseReference(`${proxy.host}/corrupt@${pushed.digest}`)),
        isRegistryError('REGISTRY_DIGEST_MISMATCH'),
      );
    } finally {
      await viaProxy.close();
      await proxy.stop();
    }
  });

  test('serves many concurrent transfers from one client', async () => {
    const blobs = Array.from({ length: 12 }, () => randomBlob(4096));
    const repo = `${registry.host}/concurrent`;
    await Promise.all(blobs.map((b) => client.pushBlob(repo, b, b.open)));
    const back = await Promise.all(
      blobs.map(async (b) => readAll(await client.getBlob(repo, b.digest))),
    );
    for (const [i, bytes] of back.entries()) assert.deepEqual(bytes, blobs[i]!.bytes);
  });
});
