/**
 * ADD of local archives through the real CLI: extracted by content (not by name) in every
 * compression Docker reads, owners from the archive unless --chown, --unpack=false, entries
 * that would leave the destination refused.
 */
import assert from 'node:assert/strict';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildRootfs, writeTree } from './add-support.js';
import { runCommand } from './support/command.js';

const isRoot = process.getuid?.() === 0;

describe('ADD of a local archive', { skip: !isRoot && 'needs root to own archive members' }, () => {
  let work: string;
  let ctx: string;
  let n = 0;
  const build = (dockerfile: string) =>
    buildRootfs(ctx, dockerfile, join(work, 'cache'), join(work, `out-${n++}.tar`));

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-add-archive-'));
    ctx = join(work, 'ctx');
    const src = join(work, 'src');
    await writeTree(src, { 'a.txt': 'from the archive\n', 'sub/b.txt': 'deep\n' });
    await runCommand('chown', ['-R', '1234:2345', src]);
    await mkdir(ctx);
    const tar = (args: string[]) => runCommand('tar', ['-C', src, ...args, '.']);
    await tar(['-cf', join(ctx, 'plain.tar')]);
    await tar(['-czf', join(ctx, 'a.tar.gz')]);
    await tar(['-cjf', join(ctx, 'a.tar.bz2')]);
    await tar(['-cJf', join(ctx, 'a.tar.xz')]);
    await tar(['--zstd', '-cf', join(ctx, 'a.tar.zst')]);
    // Named like anything but an archive: the content decides.
    await tar(['-czf', join(ctx, 'data.bin')]);
    await writeFile(join(ctx, 'notes.tar.gz'), 'not an archive, whatever the name says\n');
    await writeFile(join(ctx, 'a.txt'), 'from the context\n');
    const python = (script: string) => runCommand('python3', ['-c', script], { cwd: ctx });
    await python(
      "import tarfile,io\nt=tarfile.open('escape.tar','w')\ni=tarfile.TarInfo('../evil.txt')\n" +
        "i.size=5\nt.addfile(i,io.BytesIO(b'evil\\n'))\nt.close()",
    );
    await python(
      "import tarfile,io\nt=tarfile.open('absolute.tar','w')\ni=tarfile.TarInfo('/etc/abs.txt')\n" +
        "i.size=4\nt.addfile(i,io.BytesIO(b'abs\\n'))\nl=tarfile.TarInfo('/etc/../hard')\n" +
        "l.type=tarfile.LNKTYPE\nl.linkname='/etc/abs.txt'\nt.addfile(l)\nt.close()",
    );
    await python(
      "import tarfile,io\nt=tarfile.open('whiteout.tar','w')\ni=tarfile.TarInfo('.wh.a.txt')\n" +
        't.addfile(i,io.BytesIO(b""))\nt.close()',
    );
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('extracts tar, gzip, bzip2, xz and zstd archives with the owners they hold', async () => {
    const out = await build(`FROM scratch
ADD plain.tar /tar/
ADD a.tar.gz /gz/
ADD a.tar.bz2 /bz2/
ADD a.tar.xz /xz
ADD a.tar.zst /zst/
ADD data.bin /bin/
`);
    assert.equal(out.code, 0, out.stderr);
    for (const dir of ['tar', 'gz', 'bz2', 'xz', 'zst', 'bin']) {
      const a = out.files.get(`${dir}/a.txt`);
      assert.equal(a?.data.toString(), 'from the archive\n', dir);
      assert.deepEqual([a?.uid, a?.gid], [1234, 2345], dir);
      assert.equal(out.files.get(`${dir}/sub/b.txt`)?.data.toString(), 'deep\n', dir);
      assert.equal(out.files.get(`${dir}/sub`)?.type, 'dir', dir);
    }
    assert.equal(out.files.get('xz')?.type, 'dir', 'a destination without / is a directory');
  });

  it('copies a file that is not an archive as it is, whatever its name', async () => {
    const out = await build('FROM scratch\nADD notes.tar.gz /n/\n');
    assert.equal(out.code, 0, out.stderr);
    const file = out.files.get('n/notes.tar.gz');
    assert.equal(file?.data.toString(), 'not an archive, whatever the name says\n');
    assert.deepEqual([file?.uid, file?.gid], [0, 0]);
  });

  it('copies the archive itself with --unpack=false', async () => {
    const out = await build('FROM scratch\nADD --unpack=false a.tar.gz /keep/\n');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.files.get('keep/a.tar.gz')?.type, 'file');
    assert.equal(out.files.has('keep/a.txt'), false);
  });

  it('gives every extracted entry the --chown owner', async () => {
    const out = await build('FROM scratch\nADD --chown=7:8 a.tar.gz /owned/\n');
    assert.equal(out.code, 0, out.stderr);
    for (const path of ['owned/a.txt', 'owned/sub', 'owned/sub/b.txt']) {
      const entry = out.files.get(path);
      assert.deepEqual([entry?.uid, entry?.gid], [7, 8], path);
    }
  });

  it('overwrites files the image already has', async () => {
    const out = await build('FROM scratch\nCOPY a.txt /over/a.txt\nADD a.tar.gz /over/\n');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.files.get('over/a.txt')?.data.toString(), 'from the archive\n');
  });

  it('refuses an archive whose entries leave the destination', async () => {
    const out = await build('FROM scratch\nADD escape.tar /safe/\n');
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /outside the target directory/);
  });

  it('puts absolute member names and hard link targets under the destination, as Docker does', async () => {
    const out = await build('FROM scratch\nADD absolute.tar /abs/\n');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.files.get('abs/etc/abs.txt')?.data.toString(), 'abs\n');
    const hard = out.files.get('abs/hard');
    assert.equal(hard?.type, 'hardlink');
    assert.equal(hard?.linkname, 'abs/etc/abs.txt');
  });

  it('refuses an archive with a member named like a whiteout', async () => {
    const out = await build('FROM scratch\nCOPY a.txt /w/a.txt\nADD whiteout.tar /w/\n');
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /ADD_ARCHIVE_WHITEOUT|named like a whiteout/);
  });

  it('extracts an archive owned by another user in the context', async () => {
    await chown(join(ctx, 'a.tar.gz'), 4321, 4321);
    const out = await build('FROM scratch\nADD a.tar.gz /other/\n');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.files.get('other/a.txt')?.uid, 1234);
  });
});
