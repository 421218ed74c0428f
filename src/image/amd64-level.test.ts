import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { amd64LevelOf } from './amd64-level.js';

const V2 = 'cx16 lahf_lm popcnt sse4_1 sse4_2 ssse3';
const V3 = `${V2} avx avx2 bmi1 bmi2 f16c fma abm movbe xsave`;

describe('amd64LevelOf()', () => {
  it('reads the x86-64 level from the flags line of /proc/cpuinfo', () => {
    assert.equal(amd64LevelOf('processor\t: 0\nflags\t\t: fpu sse sse2\n'), 1);
    assert.equal(amd64LevelOf(`flags\t\t: fpu ${V2}\n`), 2);
    assert.equal(amd64LevelOf(`flags\t\t: ${V3} avx512f\n`), 3);
    assert.equal(amd64LevelOf(`flags : ${V3} avx512f avx512bw avx512cd avx512dq avx512vl\n`), 4);
  });

  it('stops at the first level whose flags are not all there', () => {
    assert.equal(amd64LevelOf(`flags : ${V3.replace('sse4_2 ', '')}\n`), 1);
  });

  it('answers 1 without a flags line', () => {
    assert.equal(amd64LevelOf(''), 1);
  });
});
