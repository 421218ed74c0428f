import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topWords } from './count.mjs';

test('counts words case-insensitively and breaks ties alphabetically', () => {
  assert.deepEqual(topWords('b a B c a b', 2), [
    ['b', 3],
    ['a', 2],
  ]);
});

test('returns nothing for text without words', () => {
  assert.deepEqual(topWords(' -- ', 3), []);
});
