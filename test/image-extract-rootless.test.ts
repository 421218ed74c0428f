/**
 * Layer extraction as an unprivileged user, plain and inside a user namespace (the rootless
 * deployment): whiteouts and FIFOs must work, devices are skipped with a warning, owners are
 * kept only where the namespace maps them. Needs root to create and switch to the test user.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureTestUser, runAs, type TestUser } from './support/users.js';

const dist = new URL('../src/image/', import.meta.url).href;
const fsXattr = new URL('../../node_modules/fs-xattr/index.js', import.meta.url).href;

const SCRIPT = `
import { lstatSync, readFileSync } from 'node:fs';
import { getAttributeSync } from '${fsXattr}';
import { extractLayer } from '${dist}tar/extract-layer.js';
import { encodeTar } from '${dist}tar/tar-writer.js';
const T = 1700000000n * 1000000000n;
const e = (path, over, data) => ({
  entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: data ? data.length : 0,
    mtimeNs: T, ...over },
  source: data ? { kind: 'buffer', data: Buffer.from(data) } : { kind: 'none' },
});
const dir = process.argv[2];
const result = await extractLayer(encodeTar([
  e('etc', { type: 'dir', mode: 0o555 }),
  e('etc/owned', { uid: 1234, gid: 1234, mode: 0o4755, xattrs: { 'user.k': Buffer.from([0, 255]) } }, 'x'),
  e('etc/high', { uid: 1000680000, gid: 1000680000 }, 'y'),
  e('etc/.wh.gone'),
  e('cache', { type: 'dir', mode: 0o755 }),
  e('cache/.wh..wh..opq'),
  e('dev/null', { type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }),
  e('run/fifo', { type: 'fifo', mode: 0o600 }),
]), dir, { whiteouts: 'overlay', overlayXattrPrefix: 'user' });
const st = (p) => { try { return lstatSync(dir + '/' + p); } catch { return undefined; } };
const gone = st('etc/gone');
const owned = st('etc/owned');
console.log(JSON.stringify({
  warnings: result.warnings,
  gone: gone && { char: gone.isCharacterDevice(), rdev: gone.rdev },
  owned: { uid: owned.uid, mode: owned.mode & 0o7777, xattr: [...getAttributeSync(dir + '/etc/owned', 'user.k')] },
  etcMode: st('etc').mode & 0o7777,
  opaque: getAttributeSync(dir + '/cache', 'user.overlay.opaque').toString(),
  fifo: st('run/fifo')?.isFIFO() ?? false,
  devNull: st('dev/null') !== undefined,
}));
`;

const isRoot = process.getuid?.() === 0;

describe('extractLayer as an unprivileged user', { skip: isRoot ? false : 'needs root' }, () => {
  let user: TestUser;
  let dir: string;
  let script: string;

  before(async () => {
    user = await ensureTestUser();
    dir = await mkdtemp('/tmp/kiln-extract-rootless-');
    await chmod(dir, 0o755);
    script = join(dir, 'extract.mjs');
    await writeFile(script, SCRIPT);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function extractAs(name: string, prefix: string[]) {
    const out = await mkdtemp(join(dir, `${name}-`));
    await chown(out, user.uid, user.gid);
    const [command, ...args] = [...prefix, process.execPath, script, out];
    const res = await runAs(user, command!, args, { check: false });
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout);
  }

  it('makes whiteouts, opaque markers and FIFOs and skips devices with a warning', async () => {
    const r = await extractAs('plain', []);
    assert.deepEqual(r.gone, { char: true, rdev: 0 });
    assert.equal(r.opaque, 'y');
    assert.equal(r.fifo, true);
    assert.equal(r.devNull, false);
    assert.ok(
      r.warnings.some((w: string) => w.includes("skipped char 'dev/null'")),
      r.warnings,
    );
    assert.equal(r.owned.uid, user.uid);
    assert.equal(r.owned.mode, 0o4755);
    assert.deepEqual(r.owned.xattr, [0, 255]);
    assert.equal(r.etcMode, 0o555);
  });

  it('keeps owners inside a user namespace with the subordinate range mapped', async () => {
    const r = await extractAs('userns', ['unshare', '--user', '--map-auto', '--map-root-user']);
    assert.deepEqual(r.gone, { char: true, rdev: 0 });
    assert.equal(r.owned.uid, 1234);
    assert.equal(r.owned.mode, 0o4755);
    assert.equal(r.devNull, false);
    assert.ok(
      r.warnings.some((w: string) =>
        /'etc\/high' to 1000680000:1000680000: the id is outside the ids this user namespace maps/.test(
          w,
        ),
      ),
      r.warnings,
    );
  });
});
