import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isArchive, sniffArchive, unpackArchive } from './add-archive.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-add-archive-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));

const src = path.join(root, 'src');
mkdirSync(path.join(src, 'd'), { recursive: true });
writeFileSync(path.join(src, 'd', 'f.txt'), 'content\n');
const tarFile = path.join(root, 'a.tar');
execFileSync('tar', ['-C', src, '-cf', tarFile, 'd']);

function file(name: string, data: Buffer | string): string {
  const p = path.join(root, name);
  writeFileSync(p, data);
  return p;
}

describe('sniffArchive()', () => {
  it('tells gzip, zstd, bzip2 and xz apart by their magic bytes', () => {
    assert.equal(sniffArchive(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
    assert.equal(sniffArchive(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
    assert.equal(sniffArchive(Buffer.from('BZh91AY')), 'bzip2');
    assert.equal(sniffArchive(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
    assert.equal(sniffArchive(Buffer.from('hello')), 'none');
  });
});

describe('isArchive()', () => {
  it('accepts a tar whatever the file is called', async () => {
    assert.equal(await isArchive(tarFile), true);
    assert.equal(await isArchive(file('named.txt', readFileSync(tarFile))), true);
  });

  it('accepts a gzip-compressed tar', async () => {
    assert.equal(await isArchive(file('a.tgz', gzipSync(readFileSync(tarFile)))), true);
  });

  it('rejects text, an empty file, zero blocks and gzip of a non-tar', async () => {
    assert.equal(await isArchive(file('text.tar', 'just text\n'.repeat(100))), false);
    assert.equal(await isArchive(file('empty.tar', '')), false);
    assert.equal(await isArchive(file('zeros.tar', Buffer.alloc(1024))), false);
    assert.equal(await isArchive(file('text.gz', gzipSync('plain text'))), false);
  });

  it('fails on an archive damaged after its first entry', async () => {
    const good = readFileSync(tarFile);
    // The directory's header reads; the file's header after it is garbage.
    const cut = Buffer.concat([good.subarray(0, 512), Buffer.from('x'.repeat(1024))]);
    await assert.rejects(isArchive(file('cut.tar', cut)), /damaged/);
  });
});

describe('unpackArchive()', () => {
  it('extracts an archive into a new directory under the scratch dir', async () => {
    const scratchDir = path.join(root, 'scratch');
    mkdirSync(scratchDir);
    const dir = await unpackArchive(tarFile, { scratchDir });
    assert.ok(dir?.startsWith(scratchDir));
    assert.equal(readFileSync(path.join(dir!, 'd', 'f.txt'), 'utf8'), 'content\n');
  });

  it('returns undefined for a file that is not an archive', async () => {
    assert.equal(await unpackArchive(file('plain', 'x'), { scratchDir: root }), undefined);
  });
});
