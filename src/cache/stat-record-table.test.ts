import assert from 'node:assert/strict';
import type { BigIntStats } from 'node:fs';
import { describe, it } from 'node:test';
import { StatRecordTable } from './stat-record-table.js';

const FIELDS = ['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs', 'mode'] as const;

function fakeStat(n: number): BigIntStats {
  const st: Record<string, bigint> = {};
  FIELDS.forEach((f, i) => {
    st[f] = BigInt(n * 10 + i);
  });
  return st as unknown as BigIntStats;
}

const hex = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);

/** A table saved with records a, b, c, d (in that order) and loaded again. */
function saved(): StatRecordTable {
  const table = new StatRecordTable();
  for (const [i, rel] of ['a', 'b', 'c', 'd'].entries())
    table.set(table.add(rel), fakeStat(i), hex(i));
  return new StatRecordTable(table.toRecords('/ctx'));
}

describe('StatRecordTable', () => {
  it('finds records asked for in order and out of order', () => {
    const table = saved();
    assert.deepEqual(
      ['a', 'b', 'd', 'c', 'x', 'a'].map((rel) => table.find(rel)),
      [0, 1, 3, 2, undefined, 0],
    );
    assert.equal(table.digestOf(3), hex(3));
  });

  it('trusts a record only when all six stat values match', () => {
    const table = saved();
    const i = table.find('b')!;
    assert.equal(table.matches(i, fakeStat(1)), true);
    for (const field of FIELDS) {
      const st = { ...fakeStat(1), [field]: fakeStat(1)[field] + 1n } as BigIntStats;
      assert.equal(table.matches(i, st), false, field);
    }
  });

  it('saves the records a build used first, in its order, without forgotten ones', () => {
    const table = saved();
    table.find('c');
    table.find('a');
    table.forget(table.find('b')!);
    table.set(table.add('e'), fakeStat(4), hex(4));
    table.find('c');
    const records = table.toRecords('/ctx');
    assert.deepEqual(records.paths, ['c', 'a', 'e', 'd']);
    const again = new StatRecordTable(records);
    assert.equal(again.find('b'), undefined);
    assert.equal(again.digestOf(again.find('e')!), hex(4));
    assert.equal(again.matches(again.find('d')!, fakeStat(3)), true);
  });

  it('grows past its first capacity and finds a forgotten path added again', () => {
    const table = new StatRecordTable();
    for (let i = 0; i < 200; i++) table.set(table.add(`f${i}`), fakeStat(i), hex(i % 256));
    table.forget(table.find('f7')!);
    assert.equal(table.find('f7'), undefined);
    table.set(table.add('f7'), fakeStat(7), hex(7));
    const again = new StatRecordTable(table.toRecords('/ctx'));
    assert.equal(again.toRecords('/ctx').paths.length, 200);
    assert.equal(again.matches(again.find('f199')!, fakeStat(199)), true);
    assert.equal(again.digestOf(again.find('f7')!), hex(7));
  });
});
