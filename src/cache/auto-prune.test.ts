import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheLimitFrom } from './auto-prune.js';

describe('cacheLimitFrom()', () => {
  it('reads sizes with Docker units and defaults when unset or empty', () => {
    assert.equal(cacheLimitFrom({}), 'default');
    assert.equal(cacheLimitFrom({ KILN_CACHE_MAX_SIZE: ' ' }), 'default');
    assert.deepEqual(cacheLimitFrom({ KILN_CACHE_MAX_SIZE: '20GB' }), { bytes: 20 * 1024 ** 3 });
    assert.deepEqual(cacheLimitFrom({ KILN_CACHE_MAX_SIZE: '1' }), { bytes: 1 });
  });

  it('turns collection off for off and for every spelling of zero', () => {
    for (const off of ['off', '0', '0B', '0k', '00', '0.4']) {
      assert.equal(cacheLimitFrom({ KILN_CACHE_MAX_SIZE: off }), 'none', off);
    }
  });

  it('refuses what is not a size', () => {
    assert.throws(() => cacheLimitFrom({ KILN_CACHE_MAX_SIZE: 'lots' }), {
      code: 'CACHE_MAX_SIZE_INVALID',
    });
  });
});
