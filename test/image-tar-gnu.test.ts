import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { getAttributeSync, setAttributeSync } from 'fs-xattr';
import { TarError } from '../src/image/errors.js';
import type { LayerEntry, TarEntry } from '../src/image/tar/entry.js';
import { extractLayer } from '../src/image/tar/extract-layer.js';
import { readTar } from '../src/image/tar/tar-reader.js';
import { writeTar } from '../src/image/tar/tar-writer.js';

const T = 1_700_000_000n * 1_000_000_000n + 250_000_000n;
const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0xff, 0xc3, 0x28, 0x00]);

function entry(path: string, over: Partial<TarEntry>): TarEntry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtimeNs: T, ...over };
}

describe('tar codec against GNU tar', () => {
  let dir: string;
  before(async () => {
    await mkdir('.tmp', { recursive: true });
    dir = await mkdtemp(join(process.cwd(), '.tmp', 'image-tar-gnu-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeArchive(name: string, entries: LayerEntry[]): Promise<string> {
    const file = join(dir, name);
    const out = createWriteStream(file);
    await writeTar(entries, out);
    out.end();
    await finished(out);
    return file;
  }

  const longName = `deep/${'n'.repeat(120)}/${'m'.repeat(80)}.txt`;
  const data = Buffer.from('payload\n');
  const entries = (): LayerEntry[] => [
    { entry: entry('deep', { type: 'dir', mode: 0o755 }), source: { kind: 'none' } },
    {
      entry: entry(longName, {
        size: data.length,
        uid: 1001,
        gid: 1002,
        mode: 0o4750,
        xattrs: { 'user.bin': CAP },
      }),
      source: { kind: 'buffer', data },
    },
    {
      entry: entry('deep/ln', { type: 'symlink', linkname: 'x'.repeat(150), mode: 0o777 }),
      source: { kind: 'none' },
    },
    {
      entry: entry('deep/hard', { type: 'hardlink', linkname: longName }),
      source: { kind: 'none' },
    },
    {
      entry: entry('deep/null', { type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }),
      source: { kind: 'none' },
    },
    { entry: entry('deep/fifo', { type: 'fifo', mode: 0o600 }), source: { kind: 'none' } },
  ];

  it('lists what kiln wrote the way kiln meant it (tar -tvf)', async () => {
    const file = await writeArchive('ours.tar', entries());
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], {
      encoding: 'utf8',
    }).split('\n');
    assert.match(listing[0]!, /^drwxr-xr-x 0\/0 +0 2023-11-14 22:13:20\.25 deep\/$/);
    assert.match(listing[1]!, new RegExp(`^-rwsr-x--- 1001/1002 +8 .* ${longName}$`));
    assert.match(listing[2]!, new RegExp(`^lrwxrwxrwx .* deep/ln -> ${'x'.repeat(150)}$`));
    assert.match(listing[3]!, new RegExp(`^hrw-r--r-- .* deep/hard link to ${longName}$`));
    assert.match(listing[4]!, /^crw-rw-rw- 0\/0 +1,3 .* deep\/null$/);
    assert.match(listing[5]!, /^prw------- .* deep\/fifo$/);
  });

  it('extracts with GNU tar --xattrs to the same files, binary xattr included', async () => {
    const file = await writeArchive('ours-x.tar', entries());
    const out = join(dir, 'gnu-out');
    await mkdir(out);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xpf', file, '-C', out]);
    const target = join(out, longName);
    assert.deepEqual(await readFile(target), data);
    assert.deepEqual(getAttributeSync(target, 'user.bin'), CAP);
    const st = await stat(target);
    assert.equal(st.mode & 0o7777, 0o4750);
    assert.equal(st.uid, 1001);
    assert.equal(st.nlink, 2);
    assert.equal(st.mtimeMs, 1_700_000_000_250);
    assert.equal(await readlink(join(out, 'deep/ln')), 'x'.repeat(150));
    assert.ok((await lstat(join(out, 'deep/fifo'))).isFIFO());
  });

  it('reads a tar GNU tar made with --xattrs --format=pax', async () => {
    const src = join(dir, 'gnu-src');
    await mkdir(join(src, 'sub', 'n'.repeat(110)), { recursive: true });
    const f = join(src, 'sub', 'n'.repeat(110), 'file');
    await writeFile(f, 'gnu content');
    setAttributeSync(f, 'user.bin', CAP);
    execFileSync('mkfifo', [join(src, 'sub', 'p')]);
    const file = join(dir, 'gnu.tar');
    execFileSync('tar', ['--xattrs', '--format=pax', '-cf', file, '-C', src, 'sub']);

    const seen = new Map<string, { entry: TarEntry; data: string }>();
    for await (const item of readTar(createReadStream(file))) {
      let text = '';
      for await (const chunk of item.content) text += chunk.toString();
      seen.set(item.entry.path, { entry: item.entry, data: text });
    }
    const long = seen.get(`sub/${'n'.repeat(110)}/file`);
    assert.ok(long, [...seen.keys()].join(','));
    assert.equal(long.data, 'gnu content');
    assert.deepEqual(long.entry.xattrs?.['user.bin'], CAP);
    assert.equal(seen.get('sub/p')?.entry.type, 'fifo');
    assert.equal(seen.get('sub')?.entry.type, 'dir');
  });

  it('reads a GNU-format tar with L records and extracts it', async () => {
    const src = join(dir, 'gnu-src2');
    const name = 'q'.repeat(200);
    await mkdir(src);
    await writeFile(join(src, name), 'long');
    const file = join(dir, 'gnu-long.tar');
    execFileSync('tar', ['--format=gnu', '-cf', file, '-C', src, name]);
    const out = join(dir, 'ours-out');
    await mkdir(out);
    const result = await extractLayer(createReadStream(file), out, { whiteouts: 'apply' });
    assert.equal(result.entries, 1);
    assert.equal(await readFile(join(out, name), 'utf8'), 'long');
  });

  it('reads base-256 ids from a GNU-format tar', async () => {
    const src = join(dir, 'gnu-src4');
    await mkdir(src);
    await writeFile(join(src, 'f'), 'ids');
    const file = join(dir, 'gnu-ids.tar');
    const owner = ['--owner=big:3000000', '--group=big:2500000'];
    execFileSync('tar', ['--format=gnu', ...owner, '-cf', file, '-C', src, 'f']);
    const header = (await readFile(file)).subarray(0, 512);
    assert.equal(header[108], 0x80, 'GNU tar should have used base-256 for the uid');
    const entries: TarEntry[] = [];
    for await (const item of readTar(createReadStream(file))) entries.push(item.entry);
    assert.equal(entries[0]!.uid, 3_000_000);
    assert.equal(entries[0]!.gid, 2_500_000);
    assert.equal(entries[0]!.uname, 'big');
  });

  it('refuses sparse entries with TAR_UNSUPPORTED instead of misreading them', async () => {
    const src = join(dir, 'gnu-src5');
    await mkdir(src);
    execFileSync('truncate', ['-s', '1M', join(src, 'sparse')]);
    const file = join(dir, 'gnu-sparse.tar');
    execFileSync('tar', ['--sparse', '--format=pax', '-cf', file, '-C', src, 'sparse']);
    await assert.rejects(
      (async () => {
        for await (const _ of readTar(createReadStream(file))) void _;
      })(),
      (err: unknown) => err instanceof TarError && err.code === 'TAR_UNSUPPORTED',
    );
  });

  it('extracts a gzip-compressed GNU tar, sniffing the compression', async () => {
    const src = join(dir, 'gnu-src3');
    await mkdir(join(src, 'a/b'), { recursive: true });
    await writeFile(join(src, 'a/b/c'), 'zipped');
    const file = join(dir, 'gnu.tar.gz');
    execFileSync('tar', ['-czf', file, '-C', src, '.']);
    const out = join(dir, 'ours-out-gz');
    await mkdir(out);
    await extractLayer(createReadStream(file), out, { whiteouts: 'apply' });
    assert.equal(await readFile(join(out, 'a/b/c'), 'utf8'), 'zipped');
  });
});
