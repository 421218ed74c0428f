/**
 * SOURCE_DATE_EPOCH and rewrite-timestamp with the real CLI: two cold builds of the same input,
 * from different cache directories, context paths and context file mtimes (standing in for two
 * machines), give the same manifest digest; times in the config, the history, the OCI index
 * and the new layers' entries are clamped to the epoch, and the base image's are kept.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blobFile, listLayer } from './support/case-image.js';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln } from './support/kiln.js';
import { skopeoInspect, umociUnpack } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const EPOCH = 1700000000;
const EPOCH_ISO = '2023-11-14T22:13:20Z';

const DOCKERFILE = (base: string) => `FROM ${base}
WORKDIR /app
COPY . ./
RUN echo built > /app/made.txt && mkdir -p /data/sub && rm /bin/ls
ENV MODE=repro
CMD ["cat", "/app/made.txt"]
`;

/** A context at `dir` whose files carry the given mtime (seconds). */
async function makeContext(dir: string, base: string, mtime: number): Promise<void> {
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), DOCKERFILE(base));
  await writeFile(join(dir, 'a.txt'), 'alpha\n');
  await writeFile(join(dir, 'sub', 'b.txt'), 'beta\n');
  for (const p of ['a.txt', 'sub/b.txt', 'sub', 'Dockerfile', '.']) {
    await utimes(join(dir, p), mtime, mtime);
  }
}

interface Built {
  digest: string;
  layout: string;
}

describe('reproducible builds (SOURCE_DATE_EPOCH, rewrite-timestamp)', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  let baseHistory: Array<Record<string, unknown>>;

  /** A cold build into its own cache dir; `epoch` as a build arg, `env` for the environment. */
  async function build(
    name: string,
    ctx: string,
    opts: { epoch?: number; rewrite?: boolean; env?: NodeJS.ProcessEnv } = {},
  ): Promise<Built> {
    const layout = join(work, `${name}-layout`);
    const rewrite = opts.rewrite ? ',rewrite-timestamp=true' : '';
    const epoch =
      opts.epoch === undefined ? [] : ['--build-arg', `SOURCE_DATE_EPOCH=${opts.epoch}`];
    const res = await runKiln(
      [
        'build',
        '--progress=json',
        '--cache-dir',
        join(work, `${name}-cache`),
        '-o',
        `type=oci,dest=${layout},tar=false${rewrite}`,
        ...epoch,
        ctx,
      ],
      { env: { ...process.env, SOURCE_DATE_EPOCH: '', ...opts.env } },
    );
    assert.equal(res.code, 0, res.stderr);
    const result = jsonEvents(res.stderr).find((e) => e.type === 'result');
    assert.ok(result, res.stderr);
    return { digest: String(result.digest), layout };
  }

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-repro-'));
    await chmod(work, 0o755);
    const config = await skopeoInspect(`docker://${base}`, { config: true });
    baseHistory = config.history as Array<Record<string, unknown>>;
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('gives the same manifest digest for cold builds on different paths, caches and mtimes', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ctxA = join(work, 'a', 'ctx');
    const ctxB = join(work, 'elsewhere', 'deeper', 'context-b');
    await makeContext(ctxA, base, now);
    await makeContext(ctxB, base, now - 86_400);
    const a = await build('a', ctxA, { epoch: EPOCH, rewrite: true });
    // A second later, so that times taken from the clock would differ.
    await new Promise((r) => setTimeout(r, 1100));
    const b = await build('b', ctxB, { epoch: EPOCH, rewrite: true });
    assert.equal(a.digest, b.digest);

    const inspect = await skopeoInspect(`oci:${a.layout}:latest`);
    assert.equal(inspect.Digest, a.digest);
    const config = await skopeoInspect(`oci:${a.layout}:latest`, { config: true });
    assert.equal(config.created, EPOCH_ISO);
    const history = config.history as Array<Record<string, unknown>>;
    assert.deepEqual(history.slice(0, baseHistory.length), baseHistory, 'base history is kept');
    const added = history.slice(baseHistory.length);
    assert.equal(added.length, 5);
    for (const h of added) assert.equal(h.created, EPOCH_ISO, JSON.stringify(h));

    const index = JSON.parse(await readFile(join(a.layout, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.created'], EPOCH_ISO);

    const manifest = JSON.parse(await readFile(blobFile(a.layout, a.digest), 'utf8'));
    const layers = manifest.layers as Array<{ digest: string }>;
    const baseLayers = (await skopeoInspect(`docker://${base}`)).Layers as string[];
    assert.deepEqual(
      layers.slice(0, baseLayers.length).map((l) => l.digest),
      baseLayers,
      'base layers are exported unchanged',
    );
    for (const layer of layers.slice(baseLayers.length)) {
      for (const entry of await listLayer(blobFile(a.layout, layer.digest))) {
        assert.ok(entry.mtime <= EPOCH, `${entry.path} has mtime ${entry.mtime}`);
      }
    }
    const bundle = join(work, 'a-bundle');
    await umociUnpack(a.layout, 'latest', bundle);
    assert.equal(await readFile(join(bundle, 'rootfs/app/made.txt'), 'utf8'), 'built\n');
    assert.equal(await readFile(join(bundle, 'rootfs/app/sub/b.txt'), 'utf8'), 'beta\n');
  });

  it('differs between the same two builds without rewrite-timestamp (mtimes stay real)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ctxA = join(work, 'c', 'ctx');
    const ctxB = join(work, 'd', 'ctx');
    await makeContext(ctxA, base, now);
    await makeContext(ctxB, base, now - 86_400);
    const a = await build('c', ctxA, { epoch: EPOCH });
    const b = await build('d', ctxB, { epoch: EPOCH });
    assert.notEqual(a.digest, b.digest);
    const config = await skopeoInspect(`oci:${a.layout}:latest`, { config: true });
    assert.equal(config.created, EPOCH_ISO, 'the epoch still sets created without rewriting');
  });

  it('takes SOURCE_DATE_EPOCH from the environment, a build arg winning over it', async () => {
    const ctx = join(work, 'env', 'ctx');
    await makeContext(ctx, base, Math.floor(Date.now() / 1000));
    const fromEnv = await build('env', ctx, { env: { SOURCE_DATE_EPOCH: '1600000000' } });
    const envConfig = await skopeoInspect(`oci:${fromEnv.layout}:latest`, { config: true });
    assert.equal(envConfig.created, '2020-09-13T12:26:40Z');

    const both = await build('both', ctx, {
      epoch: EPOCH,
      env: { SOURCE_DATE_EPOCH: '1600000000' },
    });
    const bothConfig = await skopeoInspect(`oci:${both.layout}:latest`, { config: true });
    assert.equal(bothConfig.created, EPOCH_ISO);
  });

  it('keeps clamped and unclamped steps apart in one cache, and reuses each', async () => {
    const ctx = join(work, 'mix', 'ctx');
    await makeContext(ctx, base, Math.floor(Date.now() / 1000));
    const cacheArgs = ['--cache-dir', join(work, 'mix-cache')];
    const run = async (rewrite: boolean) => {
      const layout = join(work, `mix-${rewrite}-layout`);
      const res = await runKiln(
        [
          'build',
          '--progress=json',
          ...cacheArgs,
          '--build-arg',
          `SOURCE_DATE_EPOCH=${EPOCH}`,
          '-o',
          `type=oci,dest=${layout},tar=false,rewrite-timestamp=${rewrite}`,
          ctx,
        ],
        { env: { ...process.env, SOURCE_DATE_EPOCH: '' } },
      );
      assert.equal(res.code, 0, res.stderr);
      const events = jsonEvents(res.stderr);
      const cached = events.filter((e) => e.type === 'step' && e.status === 'cached').length;
      const digest = String(events.find((e) => e.type === 'result')?.digest);
      return { cached, digest };
    };
    const plain = await run(false);
    const clamped = await run(true);
    assert.equal(clamped.cached, 0, 'clamped layers are not taken from unclamped records');
    assert.notEqual(clamped.digest, plain.digest);
    const again = await run(true);
    assert.equal(again.cached, 3, 'WORKDIR, COPY and RUN come from the cache');
    assert.equal(again.digest, clamped.digest);
  });

  it("maps kaniko's --reproducible to epoch 0 for times and layer entries", async () => {
    const digests: string[] = [];
    for (const name of ['k1', 'k2']) {
      const ctx = join(work, name, 'workspace');
      await makeContext(ctx, base, Math.floor(Date.now() / 1000) - (name === 'k1' ? 0 : 999));
      const layout = join(work, `${name}-layout`);
      const digestFile = join(work, `${name}-digest`);
      const res = await runKiln(
        [
          'executor',
          '--context',
          `dir://${ctx}`,
          '--dockerfile',
          join(ctx, 'Dockerfile'),
          '--no-push',
          '--reproducible',
          '--cache-dir',
          join(work, `${name}-cache`),
          '--oci-layout-path',
          layout,
          '--digest-file',
          digestFile,
        ],
        { env: { ...process.env, SOURCE_DATE_EPOCH: '' } },
      );
      assert.equal(res.code, 0, res.stderr);
      digests.push((await readFile(digestFile, 'utf8')).trim());
      const config = await skopeoInspect(`oci:${layout}:latest`, { config: true });
      assert.equal(config.created, '1970-01-01T00:00:00Z');
      const manifest = JSON.parse(await readFile(blobFile(layout, digests.at(-1)!), 'utf8'));
      const top = manifest.layers.at(-1) as { digest: string };
      for (const entry of await listLayer(blobFile(layout, top.digest))) {
        assert.equal(entry.mtime, 0, entry.path);
      }
    }
    assert.equal(digests[0], digests[1]);
  });
});
