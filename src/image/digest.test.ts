import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { digestHex, isDigest, sha256Digest, sha256OfFile, sha256OfStream } from './digest.js';
import { ImageError } from './errors.js';

const ABC = 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

describe('digests', () => {
  it('hashes buffers, streams and files to the same sha256 digest', async () => {
    assert.equal(sha256Digest('abc'), ABC);
    assert.deepEqual(await sha256OfStream(Readable.from([Buffer.from('a'), Buffer.from('bc')])), {
      digest: ABC,
      size: 3,
    });
    const dir = await mkdtemp(join(tmpdir(), 'kiln-digest-'));
    try {
      await writeFile(join(dir, 'f'), 'abc');
      assert.deepEqual(await sha256OfFile(join(dir, 'f')), { digest: ABC, size: 3 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses digests that are not lowercase sha256 with IMAGE_INVALID_DIGEST', () => {
    assert.equal(isDigest(ABC), true);
    assert.equal(digestHex(ABC), ABC.slice(7));
    for (const bad of ['sha256:ABC', 'sha512:' + 'a'.repeat(128), 'sha256:../../etc/passwd']) {
      assert.equal(isDigest(bad), false);
      assert.throws(
        () => digestHex(bad),
        (err: unknown) => err instanceof ImageError && err.code === 'IMAGE_INVALID_DIGEST',
      );
    }
  });
});
