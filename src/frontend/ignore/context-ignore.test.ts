import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { contextIgnore } from './context-ignore.js';
import { IgnoreMatcher } from './ignore-matcher.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-context-ignore-'));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(path.join(root, 'dir/sub'), { recursive: true });
for (const f of ['dir/keep.txt', 'dir/drop.txt', 'dir/sub/deep.txt', 'dir.txt', 'other.bin']) {
  writeFileSync(path.join(root, f), f);
}

describe('contextIgnore()', () => {
  it('walks an excluded directory that an exception re-includes from', () => {
    const ignore = contextIgnore(IgnoreMatcher.parse('dir\n!dir/keep.txt\n'), root);
    assert.equal(ignore('dir'), false);
    assert.equal(ignore('dir/keep.txt'), false);
    assert.equal(ignore('dir/drop.txt'), true);
    assert.equal(ignore('dir/sub'), true);
  });

  it('still skips an excluded file and a directory no exception reaches', () => {
    const ignore = contextIgnore(IgnoreMatcher.parse('dir*\n*.bin\n!dir/sub/*.md\n'), root);
    assert.equal(ignore('dir.txt'), true);
    assert.equal(ignore('other.bin'), true);
    assert.equal(ignore('dir'), false);
    assert.equal(ignore('dir/keep.txt'), true);
    assert.equal(ignore('dir/sub'), false);
    assert.equal(ignore('dir/sub/deep.txt'), true);
  });

  it('is the plain matcher without exceptions', () => {
    const ignore = contextIgnore(IgnoreMatcher.parse('dir\n'), root);
    assert.equal(ignore('dir'), true);
    assert.equal(ignore('dir.txt'), false);
  });
});
