import assert from 'node:assert/strict';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getAttributeSync } from 'fs-xattr';
import { ExtractError } from '../errors.js';
import type { LayerEntry, TarEntry } from './entry.js';
import { extractLayer } from './extract-layer.js';
import { encodeTar } from './tar-writer.js';

const T0 = 1_600_000_000n * 1_000_000_000n;

function e(path: string, over: Partial<TarEntry> = {}, data?: string): LayerEntry {
  const buf = Buffer.from(data ?? '');
  const entry: TarEntry = {
    path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data === undefined ? 0 : buf.length,
    mtimeNs: T0,
    ...over,
  };
  return { entry, source: data === undefined ? { kind: 'none' } : { kind: 'buffer', data: buf } };
}

function layer(entries: LayerEntry[]) {
  return encodeTar(entries);
}

let base: string;
let n = 0;
async function freshDir(): Promise<string> {
  const dir = join(base, `t${n++}`);
  await mkdir(dir);
  return dir;
}

function isCode(code: string) {
  return (err: unknown) => err instanceof ExtractError && err.code === code;
}

describe('extractLayer', () => {
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'kiln-extract-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('restores files, dirs, links, owners, setuid modes, mtimes and binary xattrs', async () => {
    const dir = await freshDir();
    const cap = Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const result = await extractLayer(
      layer([
        e('usr', { type: 'dir', mode: 0o755, mtimeNs: T0 + 5n * 1_000_000_000n }),
        e('usr/bin/tool', { mode: 0o4755, uid: 1234, gid: 5678 }, 'binary'),
        e('usr/bin/ping', { mode: 0o755, xattrs: { 'user.cap': cap } }, 'p'),
        e('usr/bin/alias', { type: 'symlink', linkname: 'tool' }),
        e('usr/bin/hard', { type: 'hardlink', linkname: 'usr/bin/tool' }),
        e('tmp', { type: 'dir', mode: 0o1777 }),
        e('run/pipe', { type: 'fifo', mode: 0o600 }),
      ]),
      dir,
      { whiteouts: 'apply', chown: true },
    );
    assert.deepEqual(result.warnings, []);
    const tool = await stat(join(dir, 'usr/bin/tool'));
    assert.equal(tool.mode & 0o7777, 0o4755);
    assert.equal(tool.uid, 1234);
    assert.equal(tool.gid, 5678);
    assert.equal(tool.nlink, 2);
    assert.equal(tool.mtimeMs, 1_600_000_000_000);
    assert.equal((await stat(join(dir, 'usr'))).mtimeMs, 1_600_000_005_000);
    assert.equal((await stat(join(dir, 'tmp'))).mode & 0o7777, 0o1777);
    assert.equal(await readlink(join(dir, 'usr/bin/alias')), 'tool');
    assert.deepEqual(getAttributeSync(join(dir, 'usr/bin/ping'), 'user.cap'), cap);
    assert.ok((await lstat(join(dir, 'run/pipe'))).isFIFO());
  });

  it('stores whiteouts as 0/0 char devices and opaque dirs as an xattr in overlay mode', async () => {
    const dir = await freshDir();
    await extractLayer(
      layer([
        e('etc', { type: 'dir', mode: 0o755 }),
        e('etc/.wh.gone'),
        e('var/cache', { type: 'dir', mode: 0o755 }),
        e('var/cache/.wh..wh..opq'),
      ]),
      dir,
      { whiteouts: 'overlay', overlayXattrPrefix: 'trusted' },
    );
    const gone = await lstat(join(dir, 'etc/gone'));
    assert.ok(gone.isCharacterDevice());
    assert.equal(gone.rdev, 0);
    assert.deepEqual(
      getAttributeSync(join(dir, 'var/cache'), 'trusted.overlay.opaque'),
      Buffer.from('y'),
    );
  });

  it('deletes whited-out files and empties opaque dirs in apply mode', async () => {
    const dir = await freshDir();
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'etc/gone'), 'old');
    await writeFile(join(dir, 'etc/kept'), 'old');
    await mkdir(join(dir, 'cache/sub'), { recursive: true });
    await writeFile(join(dir, 'cache/sub/old'), 'old');
    await extractLayer(
      layer([
        e('etc/.wh.gone'),
        e('cache', { type: 'dir' }),
        e('cache/new', {}, 'new'),
        e('cache/.wh..wh..opq'),
      ]),
      dir,
      { whiteouts: 'apply' },
    );
    await assert.rejects(lstat(join(dir, 'etc/gone')));
    assert.equal(await readFile(join(dir, 'etc/kept'), 'utf8'), 'old');
    await assert.rejects(lstat(join(dir, 'cache/sub')));
    assert.equal(await readFile(join(dir, 'cache/new'), 'utf8'), 'new');
  });

  it('ignores overlayfs xattrs carried by a layer and does not create dirs for whiteouts', async () => {
    const dir = await freshDir();
    const result = await extractLayer(
      layer([
        e('d', { type: 'dir', xattrs: { 'user.overlay.opaque': Buffer.from('y') } }),
        e('missing/parent/.wh.x'),
      ]),
      dir,
      { whiteouts: 'apply' },
    );
    assert.throws(() => getAttributeSync(join(dir, 'd'), 'user.overlay.opaque'));
    assert.ok(result.warnings.some((w) => w.includes('ignored overlayfs xattr')));
    await assert.rejects(lstat(join(dir, 'missing')));
  });

  it('follows a parent symlink inside the root as the container would', async () => {
    const dir = await freshDir();
    await extractLayer(
      layer([
        e('usr/lib', { type: 'dir' }),
        e('lib', { type: 'symlink', linkname: '/usr/lib' }),
        e('lib/libc.so', {}, 'libc'),
      ]),
      dir,
      { whiteouts: 'apply' },
    );
    assert.equal(await readFile(join(dir, 'usr/lib/libc.so'), 'utf8'), 'libc');
  });

  const escapes: Array<[string, LayerEntry[], string]> = [
    ['a path with ..', [e('../evil', {}, 'x')], 'LAYER_PATH_ESCAPE'],
    ['a nested ..', [e('a/../../evil', {}, 'x')], 'LAYER_PATH_ESCAPE'],
    ['an absolute path', [e('/etc/evil', {}, 'x')], 'LAYER_PATH_ESCAPE'],
    [
      'a relative symlink that climbs out',
      [e('up', { type: 'symlink', linkname: '../../..' }), e('up/evil', {}, 'x')],
      'LAYER_PATH_ESCAPE',
    ],
    [
      'a hardlink to a path outside',
      [e('h', { type: 'hardlink', linkname: '../outside' })],
      'LAYER_LINK_ESCAPE',
    ],
    [
      'a hardlink to an absolute path',
      [e('h', { type: 'hardlink', linkname: '/etc/passwd' })],
      'LAYER_LINK_ESCAPE',
    ],
    [
      'a hardlink through a symlink that climbs out',
      [
        e('up', { type: 'symlink', linkname: '../..' }),
        e('h', { type: 'hardlink', linkname: 'up/x' }),
      ],
      'LAYER_LINK_ESCAPE',
    ],
  ];
  for (const [what, entries, code] of escapes) {
    it(`refuses ${what} with ${code}`, async () => {
      const dir = await freshDir();
      await writeFile(join(base, 'outside'), 'secret');
      await assert.rejects(extractLayer(layer(entries), dir, { whiteouts: 'apply' }), isCode(code));
      await assert.rejects(lstat(join(base, 'evil')));
      await assert.rejects(lstat('/etc/evil'));
    });
  }

  it('re-resolves parents after a directory is replaced by a symlink in the same layer', async () => {
    const dir = await freshDir();
    await extractLayer(
      layer([
        e('a', { type: 'dir' }),
        e('a/x', {}, 'x'),
        e('b', { type: 'dir' }),
        e('a', { type: 'symlink', linkname: '/b' }),
        e('a/y', {}, 'y'),
      ]),
      dir,
      { whiteouts: 'apply' },
    );
    assert.equal(await readFile(join(dir, 'b/y'), 'utf8'), 'y');
    assert.equal(await readlink(join(dir, 'a')), '/b');
  });

  it('refuses an escape through a symlink that replaced an already used directory', async () => {
    const dir = await freshDir();
    const entries = [
      e('a', { type: 'dir' }),
      e('a/x', {}, 'x'),
      e('a', { type: 'symlink', linkname: '../../..' }),
      e('a/evil2', {}, 'x'),
    ];
    await assert.rejects(
      extractLayer(layer(entries), dir, { whiteouts: 'apply' }),
      isCode('LAYER_PATH_ESCAPE'),
    );
  });

  it('replaces a symlink planted earlier instead of writing through it', async () => {
    const dir = await freshDir();
    const victim = join(base, 'victim');
    await writeFile(victim, 'safe');
    await symlink(victim, join(dir, 'f'));
    await extractLayer(layer([e('f', {}, 'new')]), dir, { whiteouts: 'apply' });
    assert.equal(await readFile(victim, 'utf8'), 'safe');
    assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'new');
    assert.ok(!(await lstat(join(dir, 'f'))).isSymbolicLink());
  });
});
