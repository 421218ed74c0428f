import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { BuildError } from '../../errors.js';
import { checkUtf8Names, escapeNameBytes } from './utf8-names.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-utf8-names-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('utf8 names', () => {
  it('escapes every byte outside printable ASCII, and the backslash', () => {
    assert.equal(
      escapeNameBytes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x5c, 0x0a])),
      'caf\\xe9\\x5c\\x0a',
    );
  });

  it('names the first name of a directory that is not UTF-8, escaped', () => {
    const sub = mkdtempSync(path.join(dir, 'bad-'));
    writeFileSync(Buffer.from(`${sub}/caf\xe9.txt`, 'latin1'), 'x');
    writeFileSync(path.join(sub, 'ok-é.txt'), 'y');
    const names = readdirSync(sub);
    assert.throws(
      () => checkUtf8Names(sub, names, 'some/dir', 'build context'),
      (err: unknown) =>
        err instanceof BuildError &&
        err.code === 'PATH_NOT_UTF8' &&
        err.message.includes("'some/dir/caf\\xe9.txt'"),
    );
  });

  it('passes names that are UTF-8, a U+FFFD written as UTF-8 included', () => {
    const sub = mkdtempSync(path.join(dir, 'good-'));
    writeFileSync(path.join(sub, 'ok-é.txt'), 'y');
    writeFileSync(path.join(sub, 'real-\uFFFD.txt'), 'z');
    checkUtf8Names(sub, readdirSync(sub), '', 'layer');
  });

  it('looks only at the names it is given', () => {
    const sub = mkdtempSync(path.join(dir, 'ignored-'));
    writeFileSync(Buffer.from(`${sub}/caf\xe9.txt`, 'latin1'), 'x');
    checkUtf8Names(sub, ['other.txt'], '', 'build context');
  });
});
