import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256Digest } from './digest.js';
import { ImageError } from './errors.js';
import { MediaType } from './media-types.js';
import { OciLayout } from './oci-layout.js';

describe('OciLayout', () => {
  it('creates the layout, replaces a tag in index.json and leaves no temp files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-layout-'));
    try {
      const layout = await OciLayout.open(dir);
      assert.equal(
        await readFile(join(dir, 'oci-layout'), 'utf8'),
        '{"imageLayoutVersion":"1.0.0"}',
      );
      const one = {
        mediaType: MediaType.ociManifest,
        ...(await layout.putBlob(Buffer.from('{}'))),
      };
      const two = {
        mediaType: MediaType.ociManifest,
        ...(await layout.putBlob(Buffer.from('[]'))),
      };
      await layout.addManifest(one, ['v1', 'latest']);
      await layout.addManifest(two, ['latest']);
      await layout.addManifest(two, []);
      await layout.addManifest(two, []);

      assert.equal((await layout.resolve('v1'))?.digest, one.digest);
      assert.equal((await layout.resolve('latest'))?.digest, two.digest);
      const index = await layout.readIndex();
      assert.equal(index.manifests.length, 3);
      assert.deepEqual((await readdir(dir)).sort(), ['blobs', 'index.json', 'oci-layout']);
      assert.deepEqual(await layout.readBlob(one.digest), Buffer.from('{}'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resolves a tag through an index to the manifest for the wanted platform', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-layout-'));
    try {
      const layout = await OciLayout.open(dir);
      const put = async (value: unknown, mediaType: string) => ({
        mediaType,
        ...(await layout.putBlob(Buffer.from(JSON.stringify(value)))),
      });
      const config = await put({}, MediaType.ociConfig);
      const manifest = (arch: string) => ({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { ...config, annotations: { arch } },
        layers: [],
      });
      const amd = await put(manifest('amd64'), MediaType.ociManifest);
      const arm = await put(manifest('arm64'), MediaType.ociManifest);
      const index = await put(
        {
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: [
            { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
            { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          ],
        },
        MediaType.ociIndex,
      );
      await layout.addManifest(index, ['multi']);
      const found = await layout.resolveImage('multi', { os: 'linux', architecture: 'aarch64' });
      assert.equal(found?.descriptor.digest, arm.digest);
      assert.equal(found?.manifest.config.annotations?.arch, 'arm64');
      assert.equal(
        await layout.resolveImage('multi', { os: 'linux', architecture: 's390x' }),
        undefined,
      );
      assert.equal(
        await layout.resolveImage('missing', { os: 'linux', architecture: 'amd64' }),
        undefined,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a corrupt blob with IMAGE_DIGEST_MISMATCH', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-layout-'));
    try {
      const layout = await OciLayout.open(dir);
      const { digest } = await layout.putBlob(Buffer.from('data'));
      await writeFile(layout.blobPath(digest), 'tampered');
      await assert.rejects(
        layout.readBlob(digest),
        (err: unknown) => err instanceof ImageError && err.code === 'IMAGE_DIGEST_MISMATCH',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('links a verified blob file in and checks the digest of any other', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-layout-'));
    try {
      const layout = await OciLayout.open(join(dir, 'layout'));
      const source = join(dir, 'blob');
      await writeFile(source, 'layer bytes');
      const digest = sha256Digest(Buffer.from('layer bytes'));
      await layout.putBlobFile(source, digest, { verified: true });
      const [a, b] = await Promise.all([stat(source), stat(layout.blobPath(digest))]);
      assert.equal(b.ino, a.ino, 'the same filesystem shares the inode');

      const other = join(dir, 'other');
      await writeFile(other, 'not what the digest says');
      const wrong = sha256Digest(Buffer.from('something else'));
      await assert.rejects(
        layout.putBlobFile(other, wrong),
        (err: unknown) => err instanceof ImageError && err.code === 'IMAGE_DIGEST_MISMATCH',
      );
      assert.equal(await layout.hasBlob(wrong), false);
      assert.deepEqual(
        (await readdir(join(dir, 'layout', 'blobs', 'sha256'))).filter(
          (n) => n !== digest.slice(7),
        ),
        [],
        'no temp file is left behind',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
