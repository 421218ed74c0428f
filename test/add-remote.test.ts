/**
 * ADD of URLs and git repositories through the real CLI, against a file server and a git daemon
 * this test starts on loopback: where the files land, their modes, owners and times, checksums,
 * and cache keys that follow the content (a URL's digest, a ref's commit).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildRootfs,
  type FileServer,
  type GitDaemon,
  gitHttpRoute,
  gitIn,
  startFileServer,
  startGitDaemon,
  writeTree,
} from './add-support.js';
import { runCommand } from './support/command.js';

const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';
let served = 'downloaded content\n';
const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

let work: string;
let ctx: string;
let n = 0;
const build = (dockerfile: string, cache = 'cache') =>
  buildRootfs(ctx, dockerfile, join(work, cache), join(work, `out-${n++}.tar`));

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-add-remote-'));
  ctx = join(work, 'ctx');
  await mkdir(ctx);
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('ADD of a URL', () => {
  let server: FileServer;
  let archive: Buffer;

  before(async () => {
    const src = join(work, 'archive-src');
    await writeTree(src, { 'inside.txt': 'inside\n' });
    archive = Buffer.from(
      (await runCommand('sh', ['-c', `tar -C ${src} -cz . | base64 -w0`], { check: true })).stdout,
      'base64',
    );
    server = await startFileServer({
      '/files/hello.txt': (_req, res) => {
        res.writeHead(200, { 'last-modified': LAST_MODIFIED }).end(served);
      },
      '/plain/data': (_req, res) => res.writeHead(200).end('no date\n'),
      '/files/a.tar.gz': (_req, res) => res.writeHead(200).end(archive),
      '/moved': (_req, res) => res.writeHead(302, { location: '/plain/data' }).end(),
      '/missing': (_req, res) => res.writeHead(404).end(),
    });
  });
  after(async () => server?.stop());

  it('downloads into a directory under the URL name, 0600 and root-owned, dated Last-Modified', async () => {
    const out = await build(`FROM scratch\nADD ${server.origin}/files/hello.txt /dl/\n`);
    assert.equal(out.code, 0, out.stderr);
    const file = out.files.get('dl/hello.txt');
    assert.equal(file?.data.toString(), served);
    assert.equal(file?.mode, 0o600);
    assert.deepEqual([file?.uid, file?.gid], [0, 0]);
    assert.equal(file?.mtimeNs, BigInt(Date.parse(LAST_MODIFIED)) * 1_000_000n);
  });

  it('names the file after the destination, dates it at the epoch without Last-Modified, and follows redirects', async () => {
    const out = await build(`FROM scratch\nADD --chown=5:6 ${server.origin}/moved /named\n`);
    assert.equal(out.code, 0, out.stderr);
    const file = out.files.get('named');
    assert.equal(file?.data.toString(), 'no date\n');
    assert.equal(file?.mtimeNs, 0n);
    assert.deepEqual([file?.uid, file?.gid], [5, 6]);
  });

  it('does not extract an archive that comes from a URL', async () => {
    const out = await build(`FROM scratch\nADD ${server.origin}/files/a.tar.gz /remote/\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(out.files.get('remote/a.tar.gz')?.data, archive);
    assert.equal(out.files.has('remote/inside.txt'), false);
  });

  it('fails with both digests when --checksum does not match', async () => {
    const wrong = sha256('something else');
    const out = await build(
      `FROM scratch\nADD --checksum=${wrong} ${server.origin}/files/hello.txt /dl/\n`,
    );
    assert.equal(out.code, 1);
    assert.match(out.stderr, /checksum mismatch/);
    assert.ok(out.stderr.includes(wrong), out.stderr);
    assert.ok(out.stderr.includes(sha256(served)), out.stderr);
  });

  it('fails on an HTTP error status', async () => {
    const out = await build(`FROM scratch\nADD ${server.origin}/missing /x\n`);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /answered 404/);
  });

  it('refuses --checksum on a local source at planning time', async () => {
    const out = await build(`FROM scratch\nADD --checksum=${sha256('x')} Dockerfile /x\n`);
    assert.equal(out.code, 2, out.stderr);
  });

  it('refuses a URL in COPY at planning time', async () => {
    const out = await build(`FROM scratch\nCOPY ${server.origin}/files/hello.txt /x\n`);
    assert.equal(out.code, 2, out.stderr);
    assert.match(out.stderr, /can't be a URL for COPY/);
  });

  it('keys a step by the checksum: a cached step does not download again', async () => {
    const dockerfile = `FROM scratch\nADD --checksum=${sha256(served)} ${server.origin}/files/hello.txt /sum/\n`;
    const first = await build(dockerfile, 'cache-sum');
    assert.equal(first.code, 0, first.stderr);
    const hits = server.hits.get('/files/hello.txt');
    const second = await build(dockerfile, 'cache-sum');
    assert.equal(second.code, 0, second.stderr);
    assert.equal(server.hits.get('/files/hello.txt'), hits, 'no request on a cache hit');
    assert.ok([...second.statuses].some(([name, s]) => name.includes('ADD') && s === 'cached'));
    assert.equal(second.files.get('sum/hello.txt')?.data.toString(), served);
  });

  it('keys a step by the content digest: new content runs it again, the same is cached', async () => {
    const dockerfile = `FROM scratch\nADD ${server.origin}/files/hello.txt /dl/\n`;
    const cached = await build(dockerfile, 'cache-digest');
    assert.equal(cached.code, 0, cached.stderr);
    const again = await build(dockerfile, 'cache-digest');
    const addStatus = (o: typeof again) =>
      [...o.statuses].find(([name]) => name.includes('ADD'))?.[1];
    assert.equal(addStatus(again), 'cached');
    served = 'changed content\n';
    const changed = await build(dockerfile, 'cache-digest');
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(addStatus(changed), 'done');
    assert.equal(changed.files.get('dl/hello.txt')?.data.toString(), 'changed content\n');
  });

  it('leaves nothing behind in the cache scratch space', async () => {
    const tmp = join(work, 'cache-digest', 'tmp');
    const left = await readdir(tmp).catch(() => []);
    assert.deepEqual(left, []);
  });
});

describe('ADD of a git repository', () => {
  let daemon: GitDaemon;
  let repo: string;
  let url: string;

  before(async () => {
    const base = join(work, 'git');
    repo = join(base, 'repo.git');
    await mkdir(repo, { recursive: true });
    await gitIn(repo, ['init', '-q', '-b', 'main']);
    await writeTree(repo, { 'README.md': 'readme\n', 'sub/inner.txt': 'inner v1\n' });
    await gitIn(repo, ['add', '.']);
    await gitIn(repo, ['commit', '-q', '-m', 'first']);
    await gitIn(repo, ['tag', '-a', 'v1', '-m', 'v1']);
    daemon = await startGitDaemon(base);
    url = `${daemon.origin}/repo.git`;
  });
  after(async () => daemon?.stop());

  it('copies the repository without .git, owned by root', async () => {
    const out = await build(`FROM scratch\nADD ${url} /src\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.files.get('src/README.md')?.data.toString(), 'readme\n');
    assert.equal(out.files.get('src/sub/inner.txt')?.data.toString(), 'inner v1\n');
    assert.deepEqual([out.files.get('src/README.md')?.uid, out.files.get('src/sub')?.gid], [0, 0]);
    assert.equal(
      [...out.files.keys()].some((p) => p.startsWith('src/.git')),
      false,
    );
  });

  it('takes a ref and a subdirectory from the fragment', async () => {
    const out = await build(`FROM scratch\nADD ${url}#v1:sub /only/\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.files.get('only/inner.txt')?.data.toString(), 'inner v1\n');
    assert.equal(out.files.has('only/README.md'), false);
  });

  it('keeps .git with --keep-git-dir=true', async () => {
    const out = await build(`FROM scratch\nADD --keep-git-dir=true ${url}#main /kept/\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.files.get('kept/.git')?.type, 'dir');
    assert.equal(out.files.get('kept/README.md')?.data.toString(), 'readme\n');
  });

  it('checks a commit given as --checksum', async () => {
    const head = (await gitIn(repo, ['rev-parse', 'HEAD'])).trim();
    const good = await build(`FROM scratch\nADD --checksum=${head} ${url}#main /c/\n`);
    assert.equal(good.code, 0, good.stderr);
    const bad = await build(`FROM scratch\nADD --checksum=${'0'.repeat(40)} ${url}#main /c/\n`);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /checksum mismatch/);
  });

  it("clones over git's smart HTTP protocol from a URL ending in .git", async () => {
    const server = await startFileServer({ '/git/*': gitHttpRoute(join(work, 'git')) });
    try {
      const out = await build(`FROM scratch\nADD ${server.origin}/git/repo.git#main /http/\n`);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.files.get('http/README.md')?.data.toString(), 'readme\n');
      assert.ok((server.hits.get('/git/repo.git/info/refs') ?? 0) > 0, 'git spoke HTTP');
    } finally {
      await server.stop();
    }
  });

  it('fails clearly on a ref the repository does not have', async () => {
    const out = await build(`FROM scratch\nADD ${url}#no-such-branch /x/\n`);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /no-such-branch/);
  });

  it('keys the step by the commit: cached while the ref stays, run again when it moves', async () => {
    const dockerfile = `FROM scratch\nADD ${url}#main:sub /k/\n`;
    const first = await build(dockerfile, 'cache-git');
    assert.equal(first.code, 0, first.stderr);
    const same = await build(dockerfile, 'cache-git');
    const addStatus = (o: typeof same) =>
      [...o.statuses].find(([name]) => name.includes('ADD'))?.[1];
    assert.equal(addStatus(same), 'cached');

    await writeTree(repo, { 'sub/inner.txt': 'inner v2\n' });
    await gitIn(repo, ['commit', '-q', '-am', 'second']);
    const moved = await build(dockerfile, 'cache-git');
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(addStatus(moved), 'done');
    assert.equal(moved.files.get('k/inner.txt')?.data.toString(), 'inner v2\n');
  });
});
