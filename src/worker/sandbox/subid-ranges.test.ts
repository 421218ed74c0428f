import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freeSubidStart, parseSubidFile } from './subid-ranges.js';

describe('subordinate id ranges', () => {
  it('lists the ranges of a user by name or uid, in file order', () => {
    const text = '# comment\nalice:100000:65536\n1001:300000:1000\nbob:165536:65536\n';
    assert.deepEqual(parseSubidFile(text, 'alice', 1001), [
      { start: 100000, count: 65536 },
      { start: 300000, count: 1000 },
    ]);
    assert.deepEqual(parseSubidFile(text, 'carol', 1002), []);
  });

  it('suggests a range that overlaps no one else, after every range in either file', () => {
    assert.equal(freeSubidStart(['', '']), 100000);
    assert.equal(freeSubidStart(['alice:100000:65536\n', 'alice:100000:65536\n']), 165536);
    assert.equal(freeSubidStart(['a:100000:65536\nb:165536:65536\n', 'c:400000:10\n']), 400010);
  });
});
