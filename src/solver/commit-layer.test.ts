import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerEntry } from '../image/tar/entry.js';
import { clampMtimes } from './commit-layer.js';

function entry(path: string, mtimeNs: bigint): LayerEntry {
  const tar = { path, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 0, mtimeNs };
  return { entry: tar, source: { kind: 'none' } };
}

describe('clampMtimes', () => {
  it('gives entries newer than the epoch the epoch and leaves older ones alone', () => {
    const older = entry('old', 999_000_000_001n);
    const newer = entry('new', 2_000_000_000_500_000_000n);
    const exact = entry('exact', 1_000_000_000_000_000_000n);
    const out = clampMtimes([older, newer, exact], 1_000_000_000);
    assert.equal(out[0], older);
    assert.equal(out[1]!.entry.mtimeNs, 1_000_000_000_000_000_000n);
    assert.equal(out[1]!.entry.path, 'new');
    assert.equal(out[2], exact);
    assert.equal(newer.entry.mtimeNs, 2_000_000_000_500_000_000n, 'the input is not changed');
  });
});
