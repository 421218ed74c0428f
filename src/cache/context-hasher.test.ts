import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ContentDigester, ContextHasher, hashSources } from './context-hasher.js';
import { digestFile } from './file-digest.js';
import { StatCache } from './stat-cache.js';
import { encodeStatRecords } from './stat-cache-file.js';

const noIgnore = (): boolean => false;

/** The real digester, counting which files had their contents read. */
function countingDigester(): { digester: ContentDigester; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    digester: (file, size) => {
      reads.push(file);
      return digestFile(file, size);
    },
  };
}

/** One "build" a little after the test's last write: load the stat cache, hash, save. */
async function build(cacheDir: string, ctx: string, sources: string[]) {
  await sleep(20);
  const { digester, reads } = countingDigester();
  const statCache = await StatCache.load(cacheDir, ctx);
  const hasher = new ContextHasher(ctx, noIgnore, { statCache, digester });
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
    const { digester, reads } = countingDigester();
    const statCache = await StatCache.load(cacheDir, ctx);
    // Written after the build started: its stat may not change on a same-tick rewrite.
    await writeFile(file, 'one\n');
    const hasher = new ContextHasher(ctx, noIgnore, { statCache, digester });
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
    const { digester, reads } = countingDigester();
    const hasher = new ContextHasher(ctx, noIgnore, { digester });
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
    const st = await stat(join(ctx, 'a.txt'), { bigint: true });
    const stats = BigInt64Array.from([st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs, st.mode]);
    const digests = Buffer.alloc(32, 0xab);
    const other = { context: '/elsewhere', paths: ['a.txt'], stats, digests };
    await writeFile(StatCache.fileFor(cacheDir, ctx), encodeStatRecords(other));
    const res = await build(cacheDir, ctx, ['a.txt']);
    assert.equal(res.reads.length, 1);
    assert.equal(res.digest, await hashSources(ctx, ['a.txt'], noIgnore));
  });
});

describe('ContextHasher digests', () => {
  let ctx: string;

  before(async () => {
    ctx = await mkdtemp(join(tmpdir(), 'kiln-hasher-tree-'));
    await mkdir(join(ctx, 'src', 'deep', 'er'), { recursive: true });
    await writeFile(join(ctx, 'a.txt'), 'alpha\n');
    await writeFile(join(ctx, 'B.txt'), '');
    await writeFile(join(ctx, 'src', 'deep', 'er', 'x.bin'), Buffer.alloc(300_000, 7));
    await writeFile(join(ctx, 'src', 'é.txt'), 'accent');
    await writeFile(join(ctx, 'src', 'ignored'), 'no');
    await symlink('../a.txt', join(ctx, 'src', 'link'));
    execFileSync('mkfifo', [join(ctx, 'src', 'fifo')]);
    const modes: [string, number][] = [
      ['', 0o755],
      ['a.txt', 0o640],
      ['B.txt', 0o4755],
      ['src', 0o750],
      ['src/deep', 0o755],
      ['src/deep/er', 0o700],
      ['src/deep/er/x.bin', 0o600],
      ['src/é.txt', 0o644],
      ['src/fifo', 0o644],
    ];
    for (const [rel, mode] of modes) await chmod(join(ctx, rel), mode);
  });
  after(() => rm(ctx, { recursive: true, force: true }));

  it('are the digests earlier versions gave, so existing cache keys stay valid', async () => {
    // Computed by the hasher before it walked synchronously and fed the hash in batches.
    const ignore = (rel: string): boolean => rel === 'src/ignored';
    const golden: [string[], string][] = [
      [['.'], 'f15831f76f63c81c4fc1184981225462ef48b8dd2499f0cca943c81d87caae07'],
      [['src'], '0d7fa715a4b4fcd8ba0ed8780ca125d14677beaf0c005bd1a3eae64aafbabfc8'],
      [
        ['a.txt', 'src/link', 'missing', '*.txt', 'src/../a.txt'],
        '7011f80e4aa7af7d68e7767d32bc0f4149c5eec04bf22a48304546e17aa0888e',
      ],
      [['src/deep/'], '414226ce8598d2de8a18d1af4c8dc186ddc2f888790e9b4883a947a0ba5954fb'],
    ];
    for (const [sources, digest] of golden) {
      assert.equal(await hashSources(ctx, sources, ignore), `sha256:${digest}`, sources.join());
    }
  });

  it('comes out the same when every file digest arrives late and out of order', async () => {
    for (let i = 0; i < 12; i++) {
      await writeFile(join(ctx, 'src', 'deep', `big${i}`), Buffer.alloc(300_000 + i * 1000, i));
    }
    let n = 0;
    const slow: ContentDigester = async (file, size) => {
      await sleep(++n % 5);
      return digestFile(file, size);
    };
    const want = await hashSources(ctx, ['.', 'src/deep'], noIgnore);
    const hasher = new ContextHasher(ctx, noIgnore, { digester: slow });
    assert.equal(await hasher.hash(['.', 'src/deep']), want);
  });

  it('reads each file once when two COPY sources are hashed at the same time', async () => {
    const { digester, reads } = countingDigester();
    const hasher = new ContextHasher(ctx, noIgnore, { digester });
    const [both, deep] = await Promise.all([hasher.hash(['.']), hasher.hash(['src/deep'])]);
    assert.equal(both, await hashSources(ctx, ['.'], noIgnore));
    assert.equal(deep, await hashSources(ctx, ['src/deep'], noIgnore));
    assert.equal(new Set(reads).size, reads.length);
  });
});

describe('StatCache file', () => {
  let work: string;
  let ctx: string;
  let cacheDir: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-stat-file-'));
    ctx = join(work, 'ctx');
    cacheDir = join(work, 'cache');
    await mkdir(ctx);
    await writeFile(join(ctx, 'a.txt'), 'alpha\n');
    await writeFile(join(ctx, 'b.txt'), 'bravo\n');
    await sleep(50);
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('replaces a record of the JSON format of earlier versions without trusting it', async () => {
    const file = StatCache.fileFor(cacheDir, ctx);
    const legacy = file.replace(/\.stats$/, '.json');
    await mkdir(join(file, '..'), { recursive: true });
    const st = await stat(join(ctx, 'a.txt'), { bigint: true });
    const entry = [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].map(String);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const entries = { 'a.txt': [...entry, Number(st.mode), wrong] };
    await writeFile(legacy, JSON.stringify({ version: 1, context: ctx, since: '0', entries }));

    const res = await build(cacheDir, ctx, ['.']);
    assert.equal(res.reads.length, 2);
    assert.equal(res.digest, await hashSources(ctx, ['.'], noIgnore));
    await assert.rejects(stat(legacy), { code: 'ENOENT' });
    assert.deepEqual((await build(cacheDir, ctx, ['.'])).reads, []);
  });

  it('is not rewritten by a rebuild that read no file', async () => {
    const file = StatCache.fileFor(cacheDir, ctx);
    const before = await stat(file, { bigint: true });
    assert.deepEqual((await build(cacheDir, ctx, ['.'])).reads, []);
    const after = await stat(file, { bigint: true });
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeNs, before.mtimeNs);
  });

  it('starts over from a record with a flipped bit', async () => {
    const file = StatCache.fileFor(cacheDir, ctx);
    const bytes = await readFile(file);
    // The first record's digest: after the 32-byte header and two records' six stat values.
    bytes[32 + 2 * 6 * 8]! ^= 0x10;
    await writeFile(file, bytes);
    const res = await build(cacheDir, ctx, ['.']);
    assert.equal(res.reads.length, 2);
    assert.equal(res.digest, await hashSources(ctx, ['.'], noIgnore));
    assert.deepEqual((await build(cacheDir, ctx, ['.'])).reads, []);
  });
});

describe('ContextHasher with COPY --parents', () => {
  it('keys on the modes of the parent directories the copy recreates', async () => {
    const ctx = await mkdtemp(join(tmpdir(), 'kiln-hash-parents-'));
    after(() => rm(ctx, { recursive: true, force: true }));
    await mkdir(join(ctx, 'a', 'b'), { recursive: true });
    await writeFile(join(ctx, 'a', 'b', 'f'), 'f\n');
    const hash = (parents: boolean) => new ContextHasher(ctx, noIgnore).hash(['a/b/f'], parents);
    const [plain, withParents] = [await hash(false), await hash(true)];
    await chmod(join(ctx, 'a'), 0o700);
    assert.equal(await hash(false), plain);
    assert.notEqual(await hash(true), withParents);
  });
});
