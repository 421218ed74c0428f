import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChecksum } from './add-download.js';

describe('parseChecksum()', () => {
  it('accepts sha256, sha384 and sha512 digests of the right length', () => {
    assert.deepEqual(parseChecksum(`sha256:${'a'.repeat(64)}`), {
      algorithm: 'sha256',
      hex: 'a'.repeat(64),
    });
    assert.equal(parseChecksum(`sha384:${'0'.repeat(96)}`).algorithm, 'sha384');
    assert.equal(parseChecksum(`sha512:${'f'.repeat(128)}`).algorithm, 'sha512');
  });

  it('refuses other algorithms, lengths and upper-case hex', () => {
    for (const bad of ['md5:abc', `sha256:${'a'.repeat(63)}`, `sha256:${'A'.repeat(64)}`, 'x']) {
      assert.throws(() => parseChecksum(bad), { code: 'ADD_CHECKSUM_INVALID' }, bad);
    }
  });
});
