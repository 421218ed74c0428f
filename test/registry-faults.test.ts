/**
 * Retries against a registry behind a fault-injecting proxy (test/support/fault-proxy.ts, a
 * deliberate fake: no real registry fails on purpose).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryError } from '../src/errors.js';
import { anonymous } from '../src/registry/credentials.js';
import { OCI_MANIFEST } from '../src/registry/media-types.js';
import { parseReference } from '../src/registry/reference.js';
import { RegistryClient } from '../src/registry/registry-client.js';
import type { RetryInfo } from '../src/registry/registry-http.js';
import { type Fault, type FaultProxy, startFaultProxy } from './support/fault-proxy.js';
import { configFor, ociManifest, randomBlob, readAll } from './support/image-fixtures.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

let registry: TestRegistry;
let manifestDigest: string;
const layer = randomBlob(4000);

before(async () => {
  registry = await startRegistry();
  const direct = new RegistryClient({ credentials: anonymous });
  const config = configFor('linux', 'amd64');
  for (const b of [config, layer]) await direct.pushBlob(`${registry.host}/app`, b, b.open);
  const pushed = await direct.putManifest(
    parseReference(`${registry.host}/app:v1`),
    ociManifest(config, [layer]),
    OCI_MANIFEST,
  );
  manifestDigest = pushed.digest;
  await direct.close();
});
after(() => registry.stop());

async function withProxy(
  decide: (r: { method: string; url: string }, i: number) => Fault,
  run: (proxy: FaultProxy, client: RegistryClient, retries: RetryInfo[]) => Promise<void>,
  retry = { retries: 3, minDelayMs: 10, maxDelayMs: 40 },
  timeoutMs?: number,
) {
  const proxy = await startFaultProxy(registry.host, decide);
  const retries: RetryInfo[] = [];
  const client = new RegistryClient({
    credentials: anonymous,
    retry,
    onRetry: (info) => retries.push(info),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  try {
    await run(proxy, client, retries);
  } finally {
    await client.close();
    await proxy.stop();
  }
}

describe('retries through a fault-injecting proxy', () => {
  test('retries a manifest pull after two 503 answers and succeeds', async () => {
    await withProxy(
      (_r, i) => (i < 2 ? { kind: 'status', status: 503 } : { kind: 'pass' }),
      async (proxy, client, retries) => {
        const m = await client.getManifest(parseReference(`${proxy.host}/app:v1`));
        assert.equal(m.digest, manifestDigest);
        assert.equal(proxy.seen.length, 3);
        assert.deepEqual(
          retries.map((r) => r.reason),
          ['HTTP 503', 'HTTP 503'],
        );
      },
    );
  });

  test('waits for Retry-After on a 429 before trying again', async () => {
    await withProxy(
      (_r, i) =>
        i === 0
          ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } }
          : { kind: 'pass' },
      async (proxy, client, retries) => {
        const started = Date.now();
        await client.getManifest(parseReference(`${proxy.host}/app:v1`));
        assert.ok(Date.now() - started >= 1000, 'waited at least a second');
        assert.ok((retries[0]?.delayMs ?? 0) >= 1000);
      },
    );
  });

  test('retries a blob pull whose connection was reset', async () => {
    await withProxy(
      (r, i) => (i === 0 && r.method === 'GET' ? { kind: 'reset' } : { kind: 'pass' }),
      async (proxy, client, retries) => {
        const body = await readAll(await client.getBlob(`${proxy.host}/app`, layer.digest));
        assert.deepEqual(body, layer.bytes);
        assert.equal(retries.length, 1);
      },
    );
  });

  test('retries a manifest pull whose response headers time out', async () => {
    await withProxy(
      (_r, i) => (i === 0 ? { kind: 'stall' } : { kind: 'pass' }),
      async (proxy, client, retries) => {
        const m = await client.getManifest(parseReference(`${proxy.host}/app:v1`));
        assert.equal(m.digest, manifestDigest);
        assert.deepEqual(
          retries.map((r) => r.reason),
          ['HTTP_HEADERS_TIMEOUT'],
        );
      },
      undefined,
      300,
    );
  });

  test('fails a manifest pull cut off mid-body with REGISTRY_UNREACHABLE', async () => {
    await withProxy(
      (r) => (r.method === 'GET' ? { kind: 'truncate' } : { kind: 'pass' }),
      async (proxy, client) => {
        await assert.rejects(
          client.getManifest(parseReference(`${proxy.host}/app:v1`)),
          (err: unknown) =>
            err instanceof RegistryError &&
            err.code === 'REGISTRY_UNREACHABLE' &&
            /cannot reach .* \(ECONNRESET\)/.test(err.message),
        );
      },
    );
  });

  test('stops reading a manifest that never ends, with REGISTRY_MANIFEST_INVALID', async () => {
    await withProxy(
      (r) => (r.method === 'GET' ? { kind: 'endless' } : { kind: 'pass' }),
      async (proxy, client) => {
        const before = process.memoryUsage().rss;
        await assert.rejects(
          client.getManifest(parseReference(`${proxy.host}/app:v1`)),
          (err: unknown) =>
            err instanceof RegistryError &&
            err.code === 'REGISTRY_MANIFEST_INVALID' &&
            /too large for a manifest/.test(err.message),
        );
        const grown = process.memoryUsage().rss - before;
        assert.ok(grown < 256 * 1024 * 1024, `memory grew by ${grown} bytes`);
      },
    );
  });

  test('downloads a blob again after its body was cut off, and names it when that keeps on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-faults-'));
    try {
      const isBlob = (r: { method: string; url: string }) =>
        r.method === 'GET' && r.url.includes('/blobs/');
      await withProxy(
        (r, i) => (isBlob(r) && i === 0 ? { kind: 'truncate' } : { kind: 'pass' }),
        async (proxy, client) => {
          const file = join(dir, 'once');
          assert.equal(await client.downloadBlob(`${proxy.host}/app`, layer.digest, file), 4000);
          assert.equal((await readFile(file)).length, 4000);
        },
      );
      await withProxy(
        (r) => (isBlob(r) ? { kind: 'truncate' } : { kind: 'pass' }),
        async (proxy, client) => {
          await assert.rejects(
            client.downloadBlob(`${proxy.host}/app`, layer.digest, join(dir, 'never')),
            (err: unknown) =>
              err instanceof RegistryError &&
              err.code === 'REGISTRY_UNREACHABLE' &&
              err.message.includes(`pull blob ${proxy.host}/app@${layer.digest}`),
          );
          assert.deepEqual(await readdir(dir), ['once'], 'no partial file is left');
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('gives up after the retry bound with REGISTRY_SERVER_ERROR', async () => {
    await withProxy(
      () => ({ kind: 'status', status: 500 }),
      async (proxy, client) => {
        await assert.rejects(
          client.getManifest(parseReference(`${proxy.host}/app:v1`)),
          (err: unknown) =>
            err instanceof RegistryError &&
            err.code === 'REGISTRY_SERVER_ERROR' &&
            /HTTP 500/.test(err.message),
        );
        assert.equal(proxy.seen.length, 3, 'one attempt and two retries');
      },
      { retries: 2, minDelayMs: 5, maxDelayMs: 10 },
    );
  });

  test('fails with REGISTRY_UNREACHABLE after resets beyond the bound', async () => {
    await withProxy(
      () => ({ kind: 'reset' }),
      async (proxy, client) => {
        await assert.rejects(
          client.getManifest(parseReference(`${proxy.host}/app:v1`)),
          (err: unknown) => err instanceof RegistryError && err.code === 'REGISTRY_UNREACHABLE',
        );
        assert.equal(proxy.seen.length, 2);
      },
      { retries: 1, minDelayMs: 5, maxDelayMs: 10 },
    );
  });

  test('restarts an upload with a new session and a fresh stream when the PUT is reset', async () => {
    let puts = 0;
    await withProxy(
      (r) => {
        if (r.method === 'PUT' && puts++ === 0) return { kind: 'reset' };
        return { kind: 'pass' };
      },
      async (proxy, client) => {
        const blob = randomBlob(2048);
        let opened = 0;
        const result = await client.pushBlob(`${proxy.host}/up`, blob, () => {
          opened++;
          return blob.open();
        });
        assert.deepEqual(result, { status: 'uploaded' });
        assert.equal(opened, 2);
        assert.deepEqual(
          proxy.seen.map((r) => r.method),
          ['HEAD', 'POST', 'PUT', 'POST', 'PUT'],
        );
      },
    );
  });

  test('does not retry a 404', async () => {
    await withProxy(
      () => ({ kind: 'pass' }),
      async (proxy, client) => {
        await assert.rejects(client.getManifest(parseReference(`${proxy.host}/app:nope`)));
        assert.equal(proxy.seen.length, 1);
      },
    );
  });
});
