/**
 * Registry and local cache export/import with the real CLI and a real registry: a fresh cache
 * dir that imports what another build exported reuses every step and makes the same image.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln } from './support/kiln.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { RUN_STAMP } from './support/run-stamp.js';

const DOCKERFILE = (base: string) => `FROM ${base} AS builder
RUN echo built > /built.txt && ${RUN_STAMP} > /when.txt

FROM ${base}
WORKDIR /app
COPY input.txt ./
RUN cat /app/input.txt > /app/copy.txt && ${RUN_STAMP} > /app/stamp.txt
COPY --from=builder /built.txt /app/
ENV DONE=1
`;

interface Built {
  digest: string;
  steps: Record<string, unknown>[];
}

describe('cache export and import', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  let ctx: string;

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-cache-export-'));
    ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE(base));
    await writeFile(join(ctx, 'input.txt'), 'from the context\n');
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function build(name: string, flags: string[]): Promise<Built> {
    const res = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      join(work, `cache-${name}`),
      '-o',
      `type=oci,dest=${join(work, `out-${name}`)},tar=false`,
      ...flags,
      ctx,
    ]);
    assert.equal(res.code, 0, res.stderr);
    const events = jsonEvents(res.stderr);
    const result = events.find((e) => e.type === 'result');
    assert.ok(result, 'a result event');
    return { digest: String(result.digest), steps: events.filter((e) => e.type === 'step') };
  }

  /** Instruction steps (not FROM pulls, cache import/export or the export) by their status. */
  function instructionStatuses(steps: Record<string, unknown>[]): Map<string, string[]> {
    const byName = new Map<string, string[]>();
    for (const s of steps) {
      const name = String(s.name);
      if (!/^\[.*\] (RUN|COPY|WORKDIR)/.test(name)) continue;
      byName.set(name, [...(byName.get(name) ?? []), String(s.status)]);
    }
    return byName;
  }

  async function cacheRecords(ref: string): Promise<{ key: string }[]> {
    const [host, rest] = [ref.slice(0, ref.indexOf('/')), ref.slice(ref.indexOf('/') + 1)];
    const [repo, tag] = rest.split(':') as [string, string];
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const manifest = (await (
      await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { headers: accept })
    ).json()) as { artifactType: string; config: { digest: string; mediaType: string } };
    assert.equal(manifest.artifactType, 'application/vnd.kiln.cache.v1');
    assert.equal(manifest.config.mediaType, 'application/vnd.kiln.cache.config.v1+json');
    const config = (await (
      await fetch(`http://${host}/v2/${repo}/blobs/${manifest.config.digest}`)
    ).json()) as { records: { key: string }[] };
    return config.records;
  }

  it('reuses every step from a registry cache on a fresh cache dir, with the same digest', async () => {
    const ref = `${registry.host}/cache/app:max`;
    const first = await build('reg-a', [`--cache-to=type=registry,ref=${ref},mode=max`]);
    assert.ok(
      first.steps.some((s) => s.name === `exporting cache to ${ref}` && s.status === 'done'),
    );

    const second = await build('reg-b', [`--cache-from=type=registry,ref=${ref}`]);
    const statuses = instructionStatuses(second.steps);
    assert.equal(statuses.size, 5, [...statuses.keys()].join('\n'));
    for (const [name, seen] of statuses) assert.deepEqual(seen, ['cached'], name);
    assert.equal(second.digest, first.digest);
  });

  it('exports only the final image chain with mode=min, every stage with mode=max', async () => {
    const min = `${registry.host}/cache/app:min`;
    await build('reg-a', [`--cache-to=type=registry,ref=${min},mode=min`]);
    const minRecords = await cacheRecords(min);
    const maxRecords = await cacheRecords(`${registry.host}/cache/app:max`);
    // The final stage has WORKDIR, COPY, RUN, COPY --from; max adds the builder's RUN.
    assert.equal(minRecords.length, 4);
    assert.equal(maxRecords.length, 5);
    for (const r of minRecords) assert.ok(maxRecords.some((m) => m.key === r.key));
  });

  it('reuses every step from a local cache export on a fresh cache dir', async () => {
    const dir = join(work, 'local-cache');
    const first = await build('loc-a', [`--cache-to=type=local,dest=${dir},mode=max`]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    assert.equal(index.manifests.length, 1);

    const second = await build('loc-b', [`--cache-from=type=local,src=${dir}`]);
    const statuses = instructionStatuses(second.steps);
    assert.equal(statuses.size, 5);
    for (const [name, seen] of statuses) assert.deepEqual(seen, ['cached'], name);
    assert.equal(second.digest, first.digest);
  });

  it('pushes an image from imported cache by mounting its layers, downloading none', async () => {
    const ref = `${registry.host}/cache/app:max`;
    const cacheDir = join(work, 'cache-mount');
    const image = `${registry.host}/cache/pushed:v1`;
    const res = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      cacheDir,
      `--cache-from=type=registry,ref=${ref}`,
      '-t',
      image,
      '--push',
      ctx,
    ]);
    assert.equal(res.code, 0, res.stderr);
    const records = await cacheRecords(ref);
    const manifest = (await (
      await fetch(`http://${registry.host}/v2/cache/pushed/manifests/v1`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { layers: { digest: string }[] };
    const local = new Set(await readdir(join(cacheDir, 'blobs', 'sha256')));
    const stepLayers = manifest.layers.slice(1);
    assert.equal(stepLayers.length, 4, 'WORKDIR, COPY, RUN and COPY --from layers');
    for (const layer of stepLayers) {
      assert.equal(local.has(layer.digest.slice(7)), false, `${layer.digest} was not downloaded`);
    }
    assert.ok(records.length > 0);
  });

  it('warns and builds everything when the cache ref does not exist', async () => {
    const res = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      join(work, 'cache-missing'),
      `--cache-from=type=registry,ref=${registry.host}/cache/none:nope`,
      ctx,
    ]);
    assert.equal(res.code, 0, res.stderr);
    const events = jsonEvents(res.stderr);
    assert.ok(
      events.some((e) => e.type === 'warning' && /cannot import cache/.test(String(e.message))),
    );
    assert.ok(
      events.some((e) => e.type === 'step' && e.status === 'started' && /RUN/.test(String(e.name))),
    );
  });
});
