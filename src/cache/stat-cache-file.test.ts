import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  decodeStatRecords,
  encodeStatRecords,
  FIELDS,
  type StatRecords,
} from './stat-cache-file.js';

function sample(n: number): StatRecords {
  const paths = Array.from({ length: n }, (_, i) => `dir ${i % 7}/file-${i}.é`);
  const stats = BigInt64Array.from({ length: n * FIELDS }, (_, i) => BigInt(i) * 1_000_003n - 7n);
  stats[0] = -1n; // a pre-1970 timestamp or an inode past 2^63 reads back as it was
  const digests = Buffer.alloc(n * 32);
  for (let i = 0; i < digests.length; i++) digests[i] = (i * 31) & 0xff;
  return { context: '/work/ctx', paths, stats, digests };
}

/** The file with its checksum recomputed, as a writer of another format would leave it. */
function resealed(bytes: Buffer): Buffer {
  const body = bytes.subarray(0, bytes.length - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

describe('stat cache file', () => {
  it('reads back what it wrote', () => {
    const records = sample(1000);
    const back = decodeStatRecords(encodeStatRecords(records));
    assert.ok(back);
    assert.equal(back.context, records.context);
    assert.deepEqual(back.paths, records.paths);
    assert.deepEqual([...back.stats], [...records.stats]);
    assert.ok(back.digests.equals(records.digests));
  });

  it('reads back an empty record list', () => {
    const empty = sample(0);
    assert.deepEqual(decodeStatRecords(encodeStatRecords(empty))?.paths, []);
  });

  it('reads its numbers from a buffer at any alignment', () => {
    const bytes = encodeStatRecords(sample(3));
    const shifted = Buffer.alloc(bytes.length + 3);
    bytes.copy(shifted, 3);
    assert.deepEqual(
      [...(decodeStatRecords(shifted.subarray(3))?.stats ?? [])],
      [...sample(3).stats],
    );
  });

  it('rejects a truncated file, a longer one and every single flipped bit of a small one', () => {
    const bytes = encodeStatRecords(sample(2));
    for (const cut of [0, 8, 31, 32, bytes.length - 33, bytes.length - 1]) {
      assert.equal(decodeStatRecords(bytes.subarray(0, cut)), undefined, `cut at ${cut}`);
    }
    assert.equal(decodeStatRecords(Buffer.concat([bytes, Buffer.from([0])])), undefined);
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = Buffer.from(bytes);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(decodeStatRecords(flipped), undefined, `bit ${bit}`);
    }
  });

  it('rejects a file whose paths do not split into one per record', () => {
    const records = sample(2);
    records.paths[1] = 'a\0b';
    assert.equal(decodeStatRecords(encodeStatRecords(records)), undefined);
  });

  it('rejects the JSON of version 1 and a file of another version or byte order', () => {
    const v1 = { version: 1, context: '/work/ctx', since: '0', entries: {} };
    assert.equal(decodeStatRecords(Buffer.from(JSON.stringify(v1))), undefined);

    const other = encodeStatRecords(sample(1));
    other.writeUInt32LE(3, 12);
    assert.equal(decodeStatRecords(resealed(other)), undefined, 'version 3');
    const swapped = encodeStatRecords(sample(1));
    swapped.subarray(8, 12).reverse();
    assert.equal(decodeStatRecords(resealed(swapped)), undefined, 'byte order');
    const sealed = encodeStatRecords(sample(1));
    assert.ok(decodeStatRecords(resealed(sealed)), 'resealing alone changes nothing');
  });
});
