/**
 * Per-output compression with the real CLI: `compression=gzip|zstd|uncompressed`,
 * `compression-level` and `force-compression` on OCI layouts, docker archives and pushes,
 * checked with skopeo, umoci (not for zstd: it cannot read it), GNU tar and `zstd -d`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blobFile } from './support/case-image.js';
import { runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln } from './support/kiln.js';
import { skopeoInspect, umociUnpack } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';

interface Layer {
  mediaType: string;
  digest: string;
  size: number;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The digest of what a program writes to stdout, hashed as it streams (layers are large). */
function outputDigest(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk: Buffer) => hash.update(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(`sha256:${hash.digest('hex')}`);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`));
    });
  });
}

describe('per-output layer compression', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  let ctx: string;
  let cacheDir: string;

  /** Builds into the shared cache; returns the reported manifest digest. */
  async function build(outputs: string[]): Promise<string> {
    const res = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      cacheDir,
      ...outputs.flatMap((o) => ['-o', o]),
      ctx,
    ]);
    assert.equal(res.code, 0, res.stderr);
    const result = jsonEvents(res.stderr).find((e) => e.type === 'result');
    assert.ok(result, res.stderr);
    return String(result.digest);
  }

  async function layoutImage(layout: string): Promise<{ layers: Layer[]; diffIds: string[] }> {
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(
      await readFile(blobFile(layout, index.manifests[0].digest), 'utf8'),
    );
    const config = JSON.parse(await readFile(blobFile(layout, manifest.config.digest), 'utf8'));
    return { layers: manifest.layers, diffIds: config.rootfs.diff_ids };
  }

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-compress-'));
    await chmod(work, 0o755);
    ctx = join(work, 'ctx');
    cacheDir = join(work, 'cache');
    await mkdir(ctx, { recursive: true });
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${base}\nCOPY data.txt /data.txt\nRUN echo made > /made.txt\n`,
    );
    await writeFile(join(ctx, 'data.txt'), 'some data\n'.repeat(10_000));
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('writes zstd layers (base layer too) that decompress to their diff IDs', async () => {
    const layout = join(work, 'zstd');
    const digest = await build([`type=oci,dest=${layout},tar=false,compression=zstd`]);
    const inspect = await skopeoInspect(`oci:${layout}:latest`);
    assert.equal(inspect.Digest, digest, 'the reported digest is the zstd manifest');
    const raw = await skopeoInspect(`oci:${layout}:latest`, { raw: true });
    assert.deepEqual(
      (raw.layers as Layer[]).map((l) => l.mediaType),
      [OCI_ZSTD, OCI_ZSTD, OCI_ZSTD],
    );

    const { layers, diffIds } = await layoutImage(layout);
    for (const [i, layer] of layers.entries()) {
      const file = blobFile(layout, layer.digest);
      assert.equal((await stat(file)).size, layer.size);
      assert.equal(sha256(await readFile(file)), layer.digest);
      assert.equal(await outputDigest('zstd', ['-d', '-c', file]), diffIds[i]);
    }
  });

  it('keeps gzip layers as they are, and recompresses them with force-compression', async () => {
    const plain = join(work, 'default');
    const gzip = join(work, 'gzip');
    const forced = join(work, 'forced');
    const d1 = await build([`type=oci,dest=${plain},tar=false`]);
    const d2 = await build([`type=oci,dest=${gzip},tar=false,compression=gzip`]);
    assert.equal(d2, d1, 'layers already in gzip are reused: the same manifest');
    const d3 = await build([
      `type=oci,dest=${forced},tar=false,compression=gzip,compression-level=1,force-compression=true`,
    ]);
    assert.notEqual(d3, d1);

    const before = await layoutImage(plain);
    const after = await layoutImage(forced);
    assert.deepEqual(after.diffIds, before.diffIds, 'diff IDs do not change');
    for (const [i, layer] of after.layers.entries()) {
      assert.equal(layer.mediaType, OCI_GZIP);
      assert.notEqual(layer.digest, before.layers[i]!.digest);
    }
    const bundle = join(work, 'forced-bundle');
    await umociUnpack(forced, 'latest', bundle);
    assert.equal(await readFile(join(bundle, 'rootfs/made.txt'), 'utf8'), 'made\n');
  });

  it('writes uncompressed layers stored under their diff IDs, which umoci unpacks', async () => {
    const layout = join(work, 'none');
    await build([`type=oci,dest=${layout},tar=false,compression=uncompressed`]);
    const { layers, diffIds } = await layoutImage(layout);
    assert.deepEqual(
      layers.map((l) => l.mediaType),
      [OCI_TAR, OCI_TAR, OCI_TAR],
    );
    assert.deepEqual(
      layers.map((l) => l.digest),
      diffIds,
    );
    const bundle = join(work, 'none-bundle');
    await umociUnpack(layout, 'latest', bundle);
    assert.equal(
      await readFile(join(bundle, 'rootfs/data.txt'), 'utf8'),
      'some data\n'.repeat(10_000),
    );
  });

  it('reuses converted blobs on a rebuild instead of compressing again', async () => {
    const a = join(work, 'again-a');
    const b = join(work, 'again-b');
    const first = await build([
      `type=oci,dest=${a},tar=false,compression=zstd,compression-level=7`,
    ]);
    const { layers } = await layoutImage(a);
    const cached = join(cacheDir, 'blobs', 'sha256', layers[0]!.digest.slice('sha256:'.length));
    const mtime = (await stat(cached)).mtimeMs;
    const second = await build([
      `type=oci,dest=${b},tar=false,compression=zstd,compression-level=7`,
    ]);
    assert.equal(second, first);
    assert.equal((await stat(cached)).mtimeMs, mtime, 'the converted blob was not rewritten');
  });

  it('pushes zstd layers with the OCI zstd media type to a registry', async () => {
    const ref = `${registry.host}/compress/zstd:v1`;
    const digest = await build([`type=registry,name=${ref},compression=zstd`]);
    const raw = await skopeoInspect(`docker://${ref}`, { raw: true });
    const layers = raw.layers as Layer[];
    assert.deepEqual(
      layers.map((l) => l.mediaType),
      [OCI_ZSTD, OCI_ZSTD, OCI_ZSTD],
    );
    const remote = await skopeoInspect(`docker://${ref}`);
    assert.equal(remote.Digest, digest);

    const copy = join(work, 'pulled');
    await runCommand(
      'skopeo',
      ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${copy}:v1`],
      { timeoutMs: 120_000 },
    );
    const pulled = await layoutImage(copy);
    for (const [i, layer] of pulled.layers.entries()) {
      const tar = await outputDigest('zstd', ['-d', '-c', blobFile(copy, layer.digest)]);
      assert.equal(tar, pulled.diffIds[i]);
    }
  });

  it('stores gzip blobs in a docker archive with compression=gzip, which skopeo reads', async () => {
    const gz = join(work, 'docker-gz.tar');
    const plain = join(work, 'docker-plain.tar');
    await build([`type=docker,dest=${gz},compression=gzip`, `type=docker,dest=${plain}`]);
    const list = (file: string) =>
      execFileSync('tar', ['-xOf', file, 'manifest.json']).toString('utf8');
    const gzManifest = JSON.parse(list(gz))[0] as { Layers: string[] };
    const plainManifest = JSON.parse(list(plain))[0] as { Layers: string[] };
    const info = await skopeoInspect(`docker-archive:${gz}`);
    const diffIds = (await skopeoInspect(`docker-archive:${plain}`, { config: true })).rootfs as {
      diff_ids: string[];
    };
    assert.deepEqual(
      plainManifest.Layers,
      diffIds.diff_ids.map((d) => `blobs/sha256/${d.slice(7)}`),
      'without compression= the layers are stored uncompressed under their diff IDs',
    );
    assert.equal((info.Layers as string[]).length, 3);
    for (const name of gzManifest.Layers) {
      const head = execFileSync('tar', ['-xOf', gz, name], { maxBuffer: 1 << 28 }).subarray(0, 2);
      assert.deepEqual([...head], [0x1f, 0x8b], `${name} is gzip`);
    }
    assert.ok((await stat(gz)).size < (await stat(plain)).size);
  });
});
