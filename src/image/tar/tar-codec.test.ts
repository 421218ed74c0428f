import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { TarError } from '../errors.js';
import type { LayerEntry, TarEntry } from './entry.js';
import { encodeEntryHeader } from './entry-header.js';
import { encodePaxRecords } from './pax.js';
import { readTar } from './tar-reader.js';
import { encodeTar, writeTar } from './tar-writer.js';

const T0 = 1_700_000_000n * 1_000_000_000n;

function entry(path: string, over: Partial<TarEntry> = {}): TarEntry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtimeNs: T0, ...over };
}

function file(path: string, data: string | Buffer, over: Partial<TarEntry> = {}): LayerEntry {
  const buf = Buffer.from(data);
  return {
    entry: entry(path, { size: buf.length, ...over }),
    source: { kind: 'buffer', data: buf },
  };
}

function meta(path: string, over: Partial<TarEntry>): LayerEntry {
  return { entry: entry(path, over), source: { kind: 'none' } };
}

async function tarBytes(entries: LayerEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of encodeTar(entries)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function readAll(data: Buffer | AsyncIterable<Buffer>) {
  const input = Buffer.isBuffer(data) ? Readable.from([data]) : data;
  const out: Array<{ entry: TarEntry; data: Buffer }> = [];
  for await (const { entry, content } of readTar(input)) {
    const parts: Buffer[] = [];
    for await (const part of content) parts.push(part);
    out.push({ entry, data: Buffer.concat(parts) });
  }
  return out;
}

describe('tar codec', () => {
  it('round-trips every entry type with its metadata', async () => {
    const entries: LayerEntry[] = [
      meta('etc', { type: 'dir', mode: 0o755 }),
      file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n', { uid: 1000, gid: 1000, uname: 'u' }),
      meta('etc/link', { type: 'symlink', linkname: '../passwd', mode: 0o777 }),
      meta('etc/hard', { type: 'hardlink', linkname: 'etc/passwd' }),
      meta('dev/null', { type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }),
      meta('dev/sda', { type: 'block', devmajor: 8, devminor: 0, mode: 0o660 }),
      meta('run/fifo', { type: 'fifo', mode: 0o600 }),
      file('bin/su', 'x', { mode: 0o4755 }),
      meta('tmp', { type: 'dir', mode: 0o1777 }),
    ];
    const items = await readAll(await tarBytes(entries));
    assert.equal(items.length, entries.length);
    for (const [i, item] of items.entries()) {
      assert.deepEqual(item.entry, entries[i]!.entry);
    }
    assert.equal(items[1]!.data.toString(), 'root:x:0:0::/root:/bin/sh\n');
  });

  it('writes a PAX record for names and link names longer than 100 bytes', async () => {
    const long = 'a'.repeat(120) + '/' + 'b'.repeat(150) + '/file.txt';
    const link = 'c'.repeat(300);
    const bytes = await tarBytes([file(long, 'x'), meta('l', { type: 'symlink', linkname: link })]);
    assert.ok(bytes.includes(Buffer.from(` path=${long}\n`)));
    assert.ok(bytes.includes(Buffer.from(` linkpath=${link}\n`)));
    const items = await readAll(bytes);
    assert.equal(items[0]!.entry.path, long);
    assert.equal(items[1]!.entry.linkname, link);
  });

  it('uses the ustar prefix, not PAX, for a long name that splits at a slash', async () => {
    const name = 'd'.repeat(90) + '/' + 'e'.repeat(90);
    const bytes = await tarBytes([file(name, 'x')]);
    assert.equal(bytes.includes(Buffer.from('path=')), false);
    assert.equal((await readAll(bytes))[0]!.entry.path, name);
  });

  it('puts a splittable long path into PAX when the entry needs PAX anyway, as Go does', async () => {
    const name = 'd'.repeat(90) + '/' + 'e'.repeat(90);
    const bytes = await tarBytes([file(name, 'x', { xattrs: { 'user.a': Buffer.from('1') } })]);
    assert.ok(bytes.includes(Buffer.from(` path=${name}\n`)));
    assert.equal((await readAll(bytes))[0]!.entry.path, name);
  });

  it('applies global PAX records to later entries unless an entry overrides them', async () => {
    const longUname = 'u'.repeat(40);
    const one = await tarBytes([file('a', 'x'), file('b', 'y', { uname: longUname })]);
    const records = encodePaxRecords([['uname', Buffer.from('globalu')]]);
    const g = Buffer.alloc(512);
    g.write('pax_global_header', 0, 'latin1');
    g.write('0000644\0', 100, 'latin1');
    g.write('0000000\0', 108, 'latin1');
    g.write('0000000\0', 116, 'latin1');
    g.write(records.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    g.write('00000000000\0', 136, 'latin1');
    g.write('g', 156, 'latin1');
    g.write('ustar\x0000', 257, 'latin1');
    g.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of g) sum += b;
    g.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const data = Buffer.concat([records, Buffer.alloc(512 - records.length)]);
    const items = await readAll(Buffer.concat([g, data, one]));
    assert.deepEqual(
      items.map((i) => i.entry.uname),
      ['globalu', longUname],
    );
  });

  it('keeps binary xattr values byte for byte, including NUL and invalid UTF-8', async () => {
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a]);
    const xattrs = { 'security.capability': cap, 'user.note': Buffer.from('héllo') };
    const items = await readAll(await tarBytes([file('bin/ping', 'p', { xattrs })]));
    assert.deepEqual(items[0]!.entry.xattrs, xattrs);
  });

  it('keeps sub-second and negative mtimes through PAX', async () => {
    const times = [T0 + 123_456_789n, T0 + 500_000_000n, -1_500_000_000n, 0n];
    const entries = times.map((mtimeNs, i) => file(`f${i}`, '', { mtimeNs }));
    const items = await readAll(await tarBytes(entries));
    assert.deepEqual(
      items.map((item) => item.entry.mtimeNs),
      times,
    );
  });

  it('writes big uids, gids and non-ASCII names through PAX', async () => {
    const e = file('caf\u00e9/\u65e5\u672c', 'z', {
      uid: 3_000_000,
      gid: 4_000_000,
      uname: 'a-very-long-user-name-over-32-bytes',
    });
    const items = await readAll(await tarBytes([e]));
    assert.deepEqual(items[0]!.entry, e.entry);
  });

  it('produces the same bytes for the same entries and ends with two zero blocks', async () => {
    const entries = () => [file('a', 'hello', { mtimeNs: T0 + 1n }), meta('b', { type: 'dir' })];
    const one = await tarBytes(entries());
    const two = await tarBytes(entries());
    assert.deepEqual(one, two);
    assert.equal(one.length % 512, 0);
    assert.ok(one.subarray(one.length - 1024).every((b) => b === 0));
    assert.notEqual(one[one.length - 1025], undefined);
  });

  it('writes directory names with a trailing slash as Docker does', async () => {
    const bytes = await tarBytes([meta('usr/lib', { type: 'dir', mode: 0o755 })]);
    assert.equal(bytes.toString('latin1', 0, 8), 'usr/lib/');
    assert.equal(bytes[156], '5'.charCodeAt(0));
  });

  it('skips content the consumer did not read', async () => {
    const bytes = await tarBytes([file('a', 'x'.repeat(5000)), file('b', 'second')]);
    const names: string[] = [];
    let last = '';
    for await (const { entry, content } of readTar(Readable.from([bytes]))) {
      names.push(entry.path);
      if (entry.path === 'b') for await (const c of content) last += c.toString();
    }
    assert.deepEqual(names, ['a', 'b']);
    assert.equal(last, 'second');
  });

  it('reads input split into one-byte chunks', async () => {
    const bytes = await tarBytes([file('a', 'abc'), file('b'.repeat(200), 'def')]);
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    const items = await readAll(Readable.from(chunks));
    assert.deepEqual(
      items.map((i) => i.data.toString()),
      ['abc', 'def'],
    );
  });

  it('refuses content read after the next entry was requested', async () => {
    const bytes = await tarBytes([file('a', 'abc'), file('b', 'def')]);
    const iterator = readTar(Readable.from([bytes]));
    const first = await iterator.next();
    await iterator.next();
    await assert.rejects(
      async () => {
        for await (const _ of first.value!.content) void _;
      },
      (err: unknown) => err instanceof TarError && err.code === 'TAR_CONTENT_CONSUMED',
    );
    await iterator.return();
  });

  it('reports a truncated archive with TAR_TRUNCATED', async () => {
    const bytes = await tarBytes([file('a', 'x'.repeat(2000))]);
    for (const cut of [100, 700, 1500]) {
      await assert.rejects(
        readAll(bytes.subarray(0, cut)),
        (err: unknown) => err instanceof TarError && err.code === 'TAR_TRUNCATED',
      );
    }
  });

  it('reports a damaged header with TAR_CHECKSUM', async () => {
    const bytes = await tarBytes([file('a', 'x')]);
    bytes[0] = 'b'.charCodeAt(0);
    await assert.rejects(
      readAll(bytes),
      (err: unknown) => err instanceof TarError && err.code === 'TAR_CHECKSUM',
    );
  });

  it('streams files from disk and fails when a file changed size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tar-'));
    try {
      const path = join(dir, 'f');
      await writeFile(path, 'x'.repeat(3000));
      const ok: LayerEntry = { entry: entry('f', { size: 3000 }), source: { kind: 'file', path } };
      const items = await readAll(await tarBytes([ok]));
      assert.equal(items[0]!.data.length, 3000);

      const longer: LayerEntry = {
        entry: entry('f', { size: 2000 }),
        source: { kind: 'file', path },
      };
      await assert.rejects(tarBytes([longer]), (err: unknown) => {
        return err instanceof TarError && err.code === 'TAR_FILE_CHANGED';
      });
      await truncate(path, 10);
      await assert.rejects(tarBytes([ok]), (err: unknown) => {
        return err instanceof TarError && err.code === 'TAR_FILE_CHANGED';
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('packs the same bytes into chunks of any size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tar-'));
    try {
      const path = join(dir, 'f');
      await writeFile(path, Buffer.alloc(3000, 'y'));
      const entries: LayerEntry[] = [
        meta('d', { type: 'dir', mode: 0o755, mtimeNs: T0 + 5n }),
        { entry: entry('d/f', { size: 3000 }), source: { kind: 'file', path } },
        file(`d/${'n'.repeat(150)}`, Buffer.alloc(700, 'z')),
        file('d/empty', ''),
        { entry: entry('d/empty-file'), source: { kind: 'file', path: join(dir, 'none') } },
        meta('d/link', { type: 'symlink', linkname: 'f' }),
      ];
      await writeFile(join(dir, 'none'), '');
      const whole = await tarBytes(entries);
      assert.equal(whole.length % 512, 0);
      for (const size of [1, 511, 512, 513, 4096]) {
        const chunks: Buffer[] = [];
        const take = () => Buffer.alloc(size, 0xee);
        for await (const chunk of encodeTar(entries, { takeBuffer: take })) {
          assert.ok(chunk.length <= size);
          chunks.push(Buffer.from(chunk));
        }
        assert.ok(chunks.slice(0, -1).every((c) => c.length === size));
        assert.deepEqual(Buffer.concat(chunks), whole, `chunks of ${size} bytes`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('notices a file that grew, also when its content ends a chunk exactly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tar-'));
    try {
      const path = join(dir, 'f');
      await writeFile(path, Buffer.alloc(1025, 'x'));
      const declared: LayerEntry = {
        entry: entry('f', { size: 1024 }),
        source: { kind: 'file', path },
      };
      // 512 header bytes + 1024 content bytes fill a 1536-byte chunk to its end.
      const take = () => Buffer.alloc(1536);
      await assert.rejects(
        (async () => {
          for await (const _ of encodeTar([declared], { takeBuffer: take })) {
          }
        })(),
        (err: unknown) => err instanceof TarError && /longer than 1024/.test(err.message),
      );
      await truncate(path, 1024);
      const chunks: Buffer[] = [];
      for await (const chunk of encodeTar([declared], { takeBuffer: take })) chunks.push(chunk);
      assert.equal(Buffer.concat(chunks).length, 512 + 1024 + 1024);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects instead of hanging when the output fails mid-way', async () => {
    let written = 0;
    const out = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        written += chunk.length;
        setImmediate(() => callback(written > 200_000 ? new Error('disk full') : null));
      },
    });
    const entries = Array.from({ length: 20 }, (_, i) => file(`f${i}`, Buffer.alloc(100_000)));
    await assert.rejects(writeTar(entries, out), /disk full/);
  });

  it('writes sizes beyond the 8 GiB octal limit through PAX', async () => {
    const big = 9 * 1024 ** 3;
    const header = encodeEntryHeader(entry('huge', { size: big }));
    assert.ok(header.includes(Buffer.from(` size=${big}\n`)));
  });
});
