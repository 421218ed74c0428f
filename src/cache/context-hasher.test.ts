import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ContentReader, ContextHasher, hashSources } from './context-hasher.js';
import { StatCache } from './stat-cache.js';

const noIgnore = (): boolean => false;

/** A reader that counts which files had their contents read. */
function countingReader(): { reader: ContentReader; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    reader: (file) => {
      reads.push(file);
      return fs.createReadStream(file);
    },
  };
}

/** One "build" a little after the test's last write: load the stat cache, hash, save. */
async function build(cacheDir: string, ctx: string, sources: string[]) {
  await sleep(20);
  const { reader, reads } = countingReader();
  const statCache = await StatCache.load(cacheDir, ctx);
  const hasher = new ContextHasher(ctx, noIgnore, { statCache, reader });
  const digest = await hasher.hash(sources);
  await hasher.save();
  return { digest, reads };
}

describe('ContextHasher with a stat cache', () => {
  let work: string;
  let ctx: string;
  let cacheDir: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-hasher-'));
    ctx = join(work, 'ctx');
    cacheDir = join(work, 'cache');
    await mkdir(join(ctx, 'src'), { recursive: true });
    await writeFile(join(ctx, 'a.txt'), 'alpha\n');
    await writeFile(join(ctx, 'src', 'b.txt'), 'bravo\n');
    await writeFile(join(ctx, 'src', 'c.txt'), 'charlie\n');
    // Let the files age past the racy window of the first build.
    await sleep(50);
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('gives the same digest as hashing without a stat cache', async () => {
    const plain = await hashSources(ctx, ['a.txt', 'src'], noIgnore);
    const first = await build(cacheDir, ctx, ['a.txt', 'src']);
    assert.equal(first.digest, plain);
    assert.equal(first.reads.length, 3);
  });

  it('reads no file contents on a rebuild with no change', async () => {
    const plain = await hashSources(ctx, ['a.txt', 'src'], noIgnore);
    const again = await build(cacheDir, ctx, ['a.txt', 'src']);
    assert.deepEqual(again.reads, []);
    assert.equal(again.digest, plain);
  });

  it('sees a file rewritten with the same size and its old mtime restored', async () => {
    const file = join(ctx, 'src', 'b.txt');
    // A whole-second mtime survives utimes() exactly, so the rewrite keeps size and mtime.
    const mtime = 1_700_000_000;
    await utimes(file, mtime, mtime);
    const before = await stat(file, { bigint: true });
    await sleep(20);
    assert.deepEqual((await build(cacheDir, ctx, ['src'])).reads, [file], 'ctime changed');
    await writeFile(file, 'BRAVO\n');
    await utimes(file, mtime, mtime);
    const after = await stat(file, { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs);
    assert.equal(after.size, before.size);

    const res = await build(cacheDir, ctx, ['a.txt', 'src']);
    assert.deepEqual(res.reads, [file]);
    assert.equal(res.digest, await hashSources(ctx, ['a.txt', 'src'], noIgnore));
  });

  it('re-reads a file modified in the racy window of the build that read it', async () => {
    const file = join(ctx, 'racy.txt');
    const { reader, reads } = countingReader();
    const statCache = await StatCache.load(cacheDir, ctx);
    // Written after the build started: its stat may not change on a same-tick rewrite.
    await writeFile(file, 'one\n');
    const hasher = new ContextHasher(ctx, noIgnore, { statCache, reader });
    await hasher.hash(['racy.txt']);
    await hasher.save();
    assert.equal(reads.length, 1);

    const second = await build(cacheDir, ctx, ['racy.txt']);
    assert.deepEqual(second.reads, [file], 'the racy file was not trusted');
    const third = await build(cacheDir, ctx, ['racy.txt']);
    assert.deepEqual(third.reads, [], 'once older than a build start it is trusted');
  });

  it('reads a file named by two COPY sources once per build', async () => {
    await rm(StatCache.fileFor(cacheDir, ctx));
    const { reader, reads } = countingReader();
    const hasher = new ContextHasher(ctx, noIgnore, { reader });
    await hasher.hash(['a.txt']);
    await hasher.hash(['a.txt', '*.txt']);
    assert.equal(reads.length, 2, 'a.txt and racy.txt, each once');
  });

  it('ignores a corrupt stat cache record and reads everything', async () => {
    const file = StatCache.fileFor(cacheDir, ctx);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, '{"version":1,"context":');
    const res = await build(cacheDir, ctx, ['a.txt', 'src']);
    assert.equal(res.reads.length, 3);
    assert.equal(res.digest, await hashSources(ctx, ['a.txt', 'src'], noIgnore));
    const next = await build(cacheDir, ctx, ['a.txt', 'src']);
    assert.deepEqual(next.reads, [], 'the rewritten record is whole again');
  });

  it('keeps no record for another context that hashes to the same file name', async () => {
    const file = StatCache.fileFor(cacheDir, ctx);
    const other = JSON.stringify({ version: 1, context: '/elsewhere', since: '0', entries: {} });
    await writeFile(file, other);
    const res = await build(cacheDir, ctx, ['a.txt']);
    assert.equal(res.reads.length, 1);
  });
});
