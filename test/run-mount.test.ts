/**
 * RUN --mount of every type, built by the real CLI on a busybox base from a real registry, the
 * result checked with umoci (the merged rootfs) and by reading every blob the build wrote.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln, runKilnAs } from './support/kiln.js';
import { readMergedRootfs } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { ensureTestUser } from './support/users.js';

const SECRET_FILE_VALUE = 'file-secret-7f3a9c2e51d04b68';
const SECRET_ENV_VALUE = 'env-secret-c41d8e0b9a7f2365';

interface Built {
  code: number | null;
  stderr: string;
  layout: string;
  cacheDir: string;
}

/** Every file under dir (recursively), as paths. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile()) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/** The files among `paths` whose bytes, or gunzipped bytes, contain `needle`. */
async function filesContaining(paths: string[], needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const p of paths) {
    const data = await readFile(p);
    let text = data.toString('latin1');
    if (data[0] === 0x1f && data[1] === 0x8b) {
      try {
        text += gunzipSync(data).toString('latin1');
      } catch {
        // Not a gzip stream after all.
      }
    }
    if (text.includes(needle)) hits.push(p);
  }
  return hits;
}

describe('RUN --mount', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;
  let counter = 0;

  async function context(files: Record<string, string>): Promise<string> {
    const dir = join(work, `ctx-${++counter}`);
    await mkdir(dir, { recursive: true });
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(dir, name, '..'), { recursive: true });
      await writeFile(join(dir, name), content);
    }
    return dir;
  }

  async function build(
    ctx: string,
    args: string[] = [],
    opts: { cacheDir?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<Built> {
    const n = ++counter;
    const layout = join(work, `layout-${n}`);
    const cacheDir = opts.cacheDir ?? join(work, `cache-${n}`);
    const res = await runKiln(
      [
        'build',
        '--progress=json',
        '--cache-dir',
        cacheDir,
        '-o',
        `type=oci,dest=${layout},tar=false`,
        '-t',
        'test:v1',
        ...args,
        ctx,
      ],
      opts.env ? { env: { ...process.env, ...opts.env } } : {},
    );
    return { code: res.code, stderr: res.stderr, layout, cacheDir };
  }

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-run-mount-'));
    await chmod(work, 0o755);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('binds the context read-only, without ignored files, and keys the step on it', async () => {
    const ctx = await context({
      Dockerfile: `FROM ${base}
RUN --mount=target=/ctx cat /ctx/data.txt > /out.txt \\
 && if test -e /ctx/ignored.txt; then echo ignored file visible; exit 1; fi \\
 && if touch /ctx/new 2>/dev/null; then echo writable; exit 1; fi
RUN --mount=type=bind,source=sub/one.txt,target=/etc/one.txt cp /etc/one.txt /one-copy
`,
      'data.txt': 'first\n',
      'ignored.txt': 'should not be seen\n',
      'sub/one.txt': 'one\n',
      '.dockerignore': 'ignored.txt\n',
    });
    const cacheDir = join(work, 'bind-cache');
    const first = await build(ctx, [], { cacheDir });
    assert.equal(first.code, 0, first.stderr);
    const rootfs = await readMergedRootfs(first.layout, 'v1');
    assert.equal(await readFile(join(ctx, 'data.txt'), 'utf8'), 'first\n');
    assert.ok(rootfs.has('/out.txt'));
    assert.ok(rootfs.has('/one-copy'));
    assert.ok(!rootfs.has('/ctx'), 'the mountpoint made for the step is not in the image');
    assert.ok(!rootfs.has('/etc/one.txt'), 'a file mountpoint is not in the image either');

    const again = await build(ctx, [], { cacheDir });
    assert.equal(again.code, 0, again.stderr);
    const runs = (b: Built) =>
      jsonEvents(b.stderr).filter((e) => e.type === 'step' && String(e.name).includes('RUN'));
    assert.ok(
      runs(again).every((e) => e.status === 'cached'),
      'unchanged mounted content: cached',
    );

    await writeFile(join(ctx, 'data.txt'), 'second\n');
    const changed = await build(ctx, [], { cacheDir });
    assert.equal(changed.code, 0, changed.stderr);
    const statuses = runs(changed).map((e) => `${e.name}:${e.status}`);
    assert.ok(
      statuses.some((s) => s.includes('/ctx') && s.endsWith(':done')),
      `a change in the mounted context reruns the step: ${statuses.join(', ')}`,
    );
    const out = await readMergedRootfs(changed.layout, 'v1');
    assert.equal(out.get('/out.txt')?.size, 'second\n'.length);
  });

  it('binds a stage read-write and discards what the step wrote there', async () => {
    const ctx = await context({
      Dockerfile: `FROM ${base} AS src
RUN mkdir /d && echo from-stage > /d/file

FROM ${base}
RUN --mount=type=bind,from=src,source=/d,target=/m,rw \\
    echo scribble > /m/new && echo changed > /m/file && cat /m/file > /got
RUN --mount=type=bind,from=src,source=/d,target=/m2 cat /m2/file > /again
`,
    });
    const res = await build(ctx);
    assert.equal(res.code, 0, res.stderr);
    const rootfs = await readMergedRootfs(res.layout, 'v1');
    assert.ok(rootfs.has('/got'));
    assert.equal(rootfs.get('/again')?.size, 'from-stage\n'.length, 'the stage is unchanged');
    assert.ok(!rootfs.has('/m') && !rootfs.has('/m2'), 'no mountpoint in the image');
    assert.ok(!rootfs.has('/d'), 'the stage is only mounted, not copied');
  });

  it('keeps cache mount content between builds, out of the layer and the key', async () => {
    const ctx = await context({
      Dockerfile: `FROM ${base}
RUN --mount=type=cache,target=/var/cache/app,id=counter \\
    n=$(cat /var/cache/app/n 2>/dev/null || echo 0); echo $((n+1)) > /var/cache/app/n; \\
    cp /var/cache/app/n /seen
`,
    });
    const cacheDir = join(work, 'cache-mount-cache');
    const first = await build(ctx, [], { cacheDir });
    assert.equal(first.code, 0, first.stderr);
    const second = await build(ctx, ['--no-cache'], { cacheDir });
    assert.equal(second.code, 0, second.stderr);

    const rootfs = await readMergedRootfs(second.layout, 'v1');
    assert.ok(rootfs.has('/seen'));
    assert.equal(
      (await readFile(join(cacheDir, 'mounts', 'counter', 'n'), 'utf8')).trim(),
      '2',
      'the second build saw the first build’s cache content',
    );
    assert.ok(!rootfs.has('/var/cache/app'), 'the cache mountpoint is not in the image');
  });

  it('serializes sharing=locked users of one cache id across parallel stages', async () => {
    const step = (name: string) => `FROM ${base} AS ${name}
RUN --mount=type=cache,target=/c,id=serial,sharing=locked \\
    echo start-${name} >> /c/log; sleep 1; echo end-${name} >> /c/log; touch /${name}
`;
    const ctx = await context({
      Dockerfile: `${step('a')}\n${step('b')}\nFROM ${base}
COPY --from=a /a /a
COPY --from=b /b /b
`,
    });
    const cacheDir = join(work, 'locked-cache');
    const res = await build(ctx, [], { cacheDir });
    assert.equal(res.code, 0, res.stderr);
    const log = (await readFile(join(cacheDir, 'mounts', 'serial', 'log'), 'utf8')).trim();
    const lines = log.split('\n');
    assert.equal(lines.length, 4, log);
    assert.ok(lines[0]!.startsWith('start-') && lines[1]!.startsWith('end-'), log);
    assert.equal(lines[0]!.slice(6), lines[1]!.slice(4), `one user at a time:\n${log}`);
  });

  it('seeds a new cache from a stage, nests mounts, and binds an image', async () => {
    const ctx = await context({
      Dockerfile: `FROM ${base} AS seed
RUN mkdir -p /s && echo seeded > /s/f
FROM ${base}
RUN --mount=type=cache,target=/c,from=seed,source=/s,id=seeded cat /c/f > /seen
RUN --mount=target=/app,source=app --mount=type=cache,target=/app/node_modules,id=nm \\
    ls /app > /ls && touch /app/node_modules/x
RUN --mount=type=bind,from=${base},source=/bin,target=/b test -e /b/busybox
RUN --mount=type=tmpfs,target=/t --mount=type=tmpfs,target=/t/sub grep -q " /t/sub " /proc/mounts
`,
      'app/a.txt': 'a\n',
    });
    const res = await build(ctx);
    assert.equal(res.code, 0, res.stderr);
    const rootfs = await readMergedRootfs(res.layout, 'v1');
    assert.equal(rootfs.get('/seen')?.size, 'seeded\n'.length);
    assert.equal(rootfs.get('/ls')?.size, 'a.txt\nnode_modules\n'.length);
    for (const p of ['/c', '/app', '/b', '/t'])
      assert.ok(!rootfs.has(p), `${p} is not in the image`);
    await stat(join(res.cacheDir, 'mounts', 'nm', 'x'));
  });

  it('mounts a tmpfs whose content stays out of the layer', async () => {
    const ctx = await context({
      Dockerfile: `FROM ${base}
RUN --mount=type=tmpfs,target=/scratch,size=1m \\
    grep -q ' /scratch tmpfs ' /proc/mounts && echo data > /scratch/f && ls /scratch > /listing
`,
    });
    const res = await build(ctx);
    assert.equal(res.code, 0, res.stderr);
    const rootfs = await readMergedRootfs(res.layout, 'v1');
    assert.equal(rootfs.get('/listing')?.size, 'f\n'.length);
    assert.ok(!rootfs.has('/scratch'));
  });

  it('gives secrets to the step and writes them nowhere: no blob, cache file or log', async () => {
    const secretFile = join(work, 'token.txt');
    await writeFile(secretFile, SECRET_FILE_VALUE);
    const ctx = await context({
      Dockerfile: `FROM ${base}
RUN --mount=type=secret,id=tok \\
    --mount=type=secret,id=envtok,env=TOKEN,target=/etc/tok,uid=1000,mode=0440 \\
    test "$(cat /run/secrets/tok)" = "$(echo ${reverse(SECRET_FILE_VALUE)} | rev)" \\
    && test "$TOKEN" = "$(echo ${reverse(SECRET_ENV_VALUE)} | rev)" \\
    && test "$(stat -c %u:%a /etc/tok)" = 1000:440 && test "$(stat -c %a /run/secrets/tok)" = 400 \\
    && if echo x 2>/dev/null > /run/secrets/tok; then exit 1; fi \\
    && echo used > /used
RUN echo "TOKEN=[$TOKEN]" > /after
`,
    });
    const res = await build(
      ctx,
      ['--secret', `id=tok,src=${secretFile}`, '--secret', 'id=envtok,env=MY_TOKEN'],
      { env: { MY_TOKEN: SECRET_ENV_VALUE } },
    );
    assert.equal(res.code, 0, res.stderr);

    const rootfs = await readMergedRootfs(res.layout, 'v1');
    assert.ok(rootfs.has('/used'));
    assert.ok(!rootfs.has('/run/secrets'), 'the secret mountpoint is not in the image');
    assert.ok(!rootfs.has('/etc/tok'));
    assert.equal(rootfs.get('/after')?.size, 'TOKEN=[]\n'.length, 'the next step has no secret');

    const files = [...(await allFiles(res.layout)), ...(await allFiles(res.cacheDir))];
    assert.ok(files.length > 5);
    for (const value of [SECRET_FILE_VALUE, SECRET_ENV_VALUE]) {
      assert.deepEqual(await filesContaining(files, value), [], `${value} is written nowhere`);
      assert.ok(!res.stderr.includes(value), 'nor in the progress events');
    }
  });

  it('fails with a clear error when a required secret was not given', async () => {
    const ctx = await context({
      Dockerfile: `FROM ${base}\nRUN --mount=type=secret,id=missing,required true\n`,
    });
    const res = await build(ctx);
    assert.equal(res.code, 1, res.stderr);
    const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
    assert.equal(error?.code, 'SECRET_MISSING');
    assert.match(String(error?.message), /secret missing is required/);
    assert.match(String(error?.hint), /--secret id=missing/);
  });

  it('skips an optional secret that was not given', async () => {
    const ctx = await context({
      Dockerfile: `FROM ${base}\nRUN --mount=type=secret,id=nope test ! -e /run/secrets/nope\n`,
    });
    const res = await build(ctx);
    assert.equal(res.code, 0, res.stderr);
  });

  describe('with an ssh-agent', () => {
    let agent: ChildProcess;
    let socket: string;

    before(async () => {
      socket = join(work, 'agent.sock');
      agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      for (let i = 0; i < 50 && !(await isSocket(socket)); i++) await sleep(100);
      assert.ok(await isSocket(socket), 'ssh-agent is listening');
    });
    after(() => {
      agent?.kill();
    });

    it('forwards the agent socket to a step running as another user', async () => {
      const ctx = await context({
        Dockerfile: `FROM ${base}
USER 1000
RUN --mount=type=ssh,uid=1000 test -S "$SSH_AUTH_SOCK" \\
    && test "$SSH_AUTH_SOCK" = /run/buildkit/ssh_agent.0 && test -w "$SSH_AUTH_SOCK" \\
    && echo ok > /tmp/ssh-ok
RUN --mount=type=ssh,id=other,target=/agent test ! -e /agent
`,
      });
      const res = await build(ctx, ['--ssh', 'default'], { env: { SSH_AUTH_SOCK: socket } });
      assert.equal(res.code, 0, res.stderr);
      const rootfs = await readMergedRootfs(res.layout, 'v1');
      assert.ok(rootfs.has('/tmp/ssh-ok'));
      assert.ok(!rootfs.has('/run/buildkit'), 'the socket mountpoint is not in the image');
    });

    it('points SSH_AUTH_SOCK at the first ssh mount even when its agent was not given', async () => {
      // As BuildKit's LLB does: the variable comes from the mounts as written, and an optional
      // mount whose agent is missing is then left out.
      const ctx = await context({
        Dockerfile: `FROM ${base}
RUN --mount=type=ssh,id=other --mount=type=ssh,target=/second \\
    test "$SSH_AUTH_SOCK" = /run/buildkit/ssh_agent.0 && test ! -e "$SSH_AUTH_SOCK" \\
    && test -S /second && echo ok > /tmp/first-wins
`,
      });
      const res = await build(ctx, ['--ssh', `default=${socket}`]);
      assert.equal(res.code, 0, res.stderr);
      const rootfs = await readMergedRootfs(res.layout, 'v1');
      assert.ok(rootfs.has('/tmp/first-wins'));
    });

    it('fails when a required ssh id was not forwarded', async () => {
      const ctx = await context({
        Dockerfile: `FROM ${base}\nRUN --mount=type=ssh,id=deploy,required true\n`,
      });
      const res = await build(ctx, ['--ssh', `default=${socket}`]);
      assert.equal(res.code, 1, res.stderr);
      const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
      assert.equal(error?.code, 'SSH_MISSING');
    });
  });

  it('works rootless: cache, secret and bind mounts as an unprivileged user', async () => {
    const user = await ensureTestUser();
    const dir = join(work, 'rootless');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'token'), SECRET_FILE_VALUE);
    await writeFile(join(dir, 'data.txt'), 'ctx-data\n');
    await writeFile(
      join(dir, 'Dockerfile'),
      `FROM ${base}
RUN --mount=type=cache,target=/c,uid=1000 --mount=target=/ctx \\
    --mount=type=secret,id=tok,uid=1000 \\
    cat /ctx/data.txt > /got && test -s /run/secrets/tok && touch /c/x && chown 1000 /got
`,
    );
    await runCommand('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    const layout = join(dir, 'layout');
    const res = await runKilnAs(user, [
      'build',
      '--progress=plain',
      '--cache-dir',
      join(dir, 'cache'),
      '--secret',
      `id=tok,src=${join(dir, 'token')}`,
      '-o',
      `type=oci,dest=${layout},tar=false`,
      '-t',
      'test:v1',
      dir,
    ]);
    assert.equal(res.code, 0, res.stderr);
    const rootfs = await readMergedRootfs(layout, 'v1');
    assert.equal(rootfs.get('/got')?.size, 'ctx-data\n'.length);
    assert.equal(rootfs.get('/got')?.uid, 1000);
    assert.ok(!rootfs.has('/c') && !rootfs.has('/ctx') && !rootfs.has('/run/secrets'));
    const files = await allFiles(layout);
    assert.deepEqual(await filesContaining(files, SECRET_FILE_VALUE), []);
  });
});

function reverse(text: string): string {
  return [...text].reverse().join('');
}

async function isSocket(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isSocket() ?? false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
