/**
 * File outputs whose destination is not a plain file kiln may replace, through the real CLI: a
 * device or a pipe is written into and stays what it was, a symbolic link stays and its target
 * gets the output, a bind-mounted file (Kubernetes' /dev/termination-log) and a writable file in
 * a directory kiln may not write are written into, and destinations nothing can be written to
 * (a socket, /proc, a file given as a cache directory) fail before the build, without hanging.
 * Every device and mount here is made by the test in its own temp dir, never the machine's.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from './support/command.js';
import { jsonEvents, KILN_BIN, runKiln, runKilnAs } from './support/kiln.js';
import { ensureTestUser } from './support/users.js';

const isRoot = process.getuid?.() === 0;

/** Names kiln gives its temp files and backups: none may be left after a build. */
async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.includes('.kiln-'));
}

describe('kiln file outputs to devices, pipes, links and mounted files', () => {
  let work: string;
  let ctx: string;
  let cache: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-output-targets-'));
    await chmod(work, 0o755);
    ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a\n');
    await writeFile(join(ctx, 'a.txt'), 'a\n');
    cache = join(work, 'cache');
  });
  after(() => rm(work, { recursive: true, force: true }));

  const build = (...args: string[]) =>
    runKiln(['build', '--progress=plain', '--cache-dir', cache, ...args, ctx]);
  const executor = (...args: string[]) =>
    runKiln(['executor', '--cache-dir', cache, '-c', ctx, '--no-push', ...args]);

  it('writes every file output into a character device, which stays that device', {
    skip: !isRoot && 'mknod needs root',
  }, async () => {
    const dir = join(work, 'dev');
    await mkdir(dir);
    const device = join(dir, 'null');
    // The same numbers as /dev/null, but a node of this test's own.
    await runCommand('mknod', ['-m', '666', device, 'c', '1', '3']);
    const runs = [
      () => build('-o', `type=tar,dest=${device}`),
      () => build('-o', `type=oci,dest=${device}`),
      () => build('-o', `type=docker,dest=${device}`),
      () => build('--iidfile', device, '--metadata-file', device),
      () => executor('--digest-file', device, '--tar-path', device),
    ];
    for (const run of runs) {
      const res = await run();
      assert.equal(res.code, 0, res.stderr);
      const info = await stat(device);
      assert.ok(info.isCharacterDevice(), `still a device after: ${res.stderr}`);
      assert.equal(info.rdev, (await stat('/dev/null')).rdev);
      assert.deepEqual(await leftovers(dir), []);
    }
  });

  it('streams a tar into a named pipe to the program reading it', async () => {
    const dir = join(work, 'fifo');
    await mkdir(dir);
    const fifo = join(dir, 'pipe');
    await runCommand('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const read = new Promise((resolve) => reader.on('close', resolve));
    const res = await build('-o', `type=tar,dest=${fifo}`);
    // A build that replaced the pipe would leave the reader waiting for ever.
    const stillPipe = (await lstat(fifo)).isFIFO();
    if (!stillPipe) reader.kill();
    assert.ok(stillPipe, 'the pipe is still a pipe');
    assert.equal(res.code, 0, res.stderr);
    await read;
    const tar = Buffer.concat(chunks);
    const listed = await runCommand('tar', ['-tf', '-'], { input: tar });
    assert.deepEqual(listed.stdout.trim().split('\n'), ['a'], 'the whole tar came through');
    assert.deepEqual(await leftovers(dir), []);
  });

  it('stops on SIGTERM while a pipe has no reader, and takes the other outputs back', async () => {
    const dir = join(work, 'fifo-alone');
    await mkdir(dir);
    const fifo = join(dir, 'pipe');
    await runCommand('mkfifo', [fifo]);
    const archive = join(dir, 'a.tar');
    const iid = join(dir, 'iid');
    const args = ['build', '--progress=plain', '--cache-dir', cache];
    const outputs = ['-o', `type=oci,dest=${archive}`, '-o', `type=tar,dest=${fifo}`];
    const child = spawn(process.execPath, [KILN_BIN, ...args, ...outputs, '--iidfile', iid, ctx], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // The archive goes in place before the pipe is opened: then kiln waits for a reader.
    for (let i = 0; i < 300 && !(await stat(archive).catch(() => undefined)); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(await stat(archive).catch(() => undefined), 'the archive was put in place');
    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise((r) => setTimeout(() => r('still running'), 15_000)),
    ]);
    if (code === 'still running') child.kill('SIGKILL');
    assert.equal(code, 143);
    assert.ok((await lstat(fifo)).isFIFO());
    assert.deepEqual((await readdir(dir)).sort(), ['pipe'], 'archive and iid taken back');
  });

  it('keeps a symbolic link and puts the output in the file it points at, made if missing', async () => {
    const dir = join(work, 'link');
    await mkdir(join(dir, 'real'), { recursive: true });
    await writeFile(join(dir, 'real', 'iid'), 'old');
    await symlink('real/iid', join(dir, 'iid'));
    await symlink('real/meta.json', join(dir, 'meta.json'));
    const res = await build(
      '--iidfile',
      join(dir, 'iid'),
      '--metadata-file',
      join(dir, 'meta.json'),
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readlink(join(dir, 'iid')), 'real/iid');
    assert.match(await readFile(join(dir, 'real', 'iid'), 'utf8'), /^sha256:[0-9a-f]{64}$/);
    assert.equal(await readlink(join(dir, 'meta.json')), 'real/meta.json');
    const meta = JSON.parse(await readFile(join(dir, 'real', 'meta.json'), 'utf8'));
    assert.match(meta['containerimage.config.digest'], /^sha256:/);
    assert.deepEqual(await leftovers(dir), []);
    assert.deepEqual(await leftovers(join(dir, 'real')), []);
  });

  it('writes a digest file that is a bind mount, which a rename cannot replace', {
    skip: !isRoot && 'mount --bind needs root',
  }, async () => {
    const dir = join(work, 'mount');
    await mkdir(dir);
    const source = join(dir, 'source');
    const target = join(dir, 'termination-log');
    await writeFile(source, 'old');
    await writeFile(target, '');
    // A private mount namespace: the mount is gone with the shell, and unmounted by it anyway.
    const script = [
      'set -u',
      'mount --bind "$1" "$2" || exit 90',
      'trap \'umount "$2"\' EXIT',
      '"$3" "$4" executor --cache-dir "$5" -c "$6" --no-push --digest-file "$2"',
    ].join('\n');
    const res = await runCommand(
      'unshare',
      ['-m', 'bash', '-c', script, 'sh', source, target, process.execPath, KILN_BIN, cache, ctx],
      { check: false },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.doesNotMatch(res.stderr, /EBUSY|\n\s+at /);
    assert.match(await readFile(source, 'utf8'), /^sha256:[0-9a-f]{64}$/);
    assert.equal(await readFile(target, 'utf8'), '', 'the file under the mount was not touched');
    assert.deepEqual(await leftovers(dir), []);
  });

  it('writes into a writable file whose directory the user may not write', {
    skip: !isRoot && 'needs a second user',
  }, async () => {
    const user = await ensureTestUser();
    const dir = join(work, 'locked');
    await mkdir(dir, { mode: 0o755 });
    const file = join(dir, 'termination-log');
    await writeFile(file, 'old');
    await chmod(file, 0o666);
    const userCache = join(work, 'user-cache');
    await mkdir(userCache);
    await runCommand('chown', [`${user.uid}:${user.gid}`, userCache]);
    const res = await runKilnAs(user, [
      'executor',
      '--cache-dir',
      userCache,
      '-c',
      ctx,
      '--no-push',
      '--digest-file',
      file,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(await readFile(file, 'utf8'), /^sha256:[0-9a-f]{64}$/);
    assert.equal((await stat(file)).uid, 0, 'the same file, written into');
  });

  it('refuses a socket, /proc and a file as a cache directory before building, without hanging', async () => {
    const dir = join(work, 'refused');
    await mkdir(dir);
    const socket = join(dir, 'sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const cases: [string[], RegExp][] = [
        [['-o', `type=tar,dest=${socket}`], /is a socket/],
        [['--cache-to', 'type=local,dest=/proc/kiln-nope'], /kernel's proc filesystem/],
        [['-o', 'type=tar,dest=/proc/kiln-nope/out.tar'], /kernel's proc filesystem/],
        [['--cache-to', `type=local,dest=${join(ctx, 'Dockerfile')}`], /is not a directory/],
      ];
      for (const [args, reason] of cases) {
        const res = await runKiln(
          ['build', '--progress=json', '--cache-dir', join(dir, 'cache'), ...args, ctx],
          { timeoutMs: 60_000 },
        );
        assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
        const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
        assert.equal(error?.code, 'OUTPUT_UNWRITABLE', res.stderr);
        assert.match(String(error?.message), reason);
        // Nothing was built: the cache directory was never made.
        await assert.rejects(stat(join(dir, 'cache')));
      }
    } finally {
      server.close();
    }
  });
});
