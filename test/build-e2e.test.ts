/**
 * The walking skeleton end to end: a busybox-based Dockerfile built by the real CLI, pulled from
 * and pushed to a real registry, checked with skopeo, umoci and runc — as root and as an
 * unprivileged user with a subordinate id range.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln, runKilnAs } from './support/kiln.js';
import { runcRun, skopeoInspect, umociUnpack } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { ensureTestUser } from './support/users.js';

const DOCKERFILE = (base: string) => `FROM ${base}
ENV GREETING=hello
WORKDIR /app
COPY greeting.txt ./
RUN echo "$GREETING from RUN" > /app/made.txt && rm /bin/ls && mkdir -p /data && chown 1000:1000 /data
USER 1000
CMD ["cat", "/app/made.txt"]
LABEL org.example.kind=test
EXPOSE 8080/tcp
`;

async function makeContext(dir: string, base: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), DOCKERFILE(base));
  await writeFile(join(dir, 'greeting.txt'), 'from the context\n');
}

describe('kiln build, end to end', () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-e2e-'));
    await chmod(work, 0o755);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('builds, writes an OCI layout and pushes an image whose RUN effects are visible', async () => {
    const ctx = join(work, 'root-ctx');
    await makeContext(ctx, base);
    const layout = join(work, 'root-layout');
    const ref = `${registry.host}/e2e/root:v1`;
    const res = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      join(work, 'root-cache'),
      '-o',
      `type=oci,dest=${layout},tar=false`,
      '-t',
      ref,
      '--push',
      '--metadata-file',
      join(work, 'root-meta.json'),
      ctx,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, '', 'stdout stays empty with --progress=json');

    const events = jsonEvents(res.stderr);
    const result = events.find((e) => e.type === 'result');
    assert.ok(result, 'a result event is emitted');
    const meta = JSON.parse(await readFile(join(work, 'root-meta.json'), 'utf8'));
    assert.equal(meta['containerimage.digest'], result.digest);

    const remote = await skopeoInspect(`docker://${ref}`);
    assert.equal(remote.Digest, result.digest, 'the pushed manifest is the one reported');
    assert.equal((remote.Labels as Record<string, string>)['org.example.kind'], 'test');

    const bundle = join(work, 'root-bundle');
    await umociUnpack(layout, 'v1', bundle);
    assert.equal(await readFile(join(bundle, 'rootfs/app/made.txt'), 'utf8'), 'hello from RUN\n');
    assert.equal(
      await readFile(join(bundle, 'rootfs/app/greeting.txt'), 'utf8'),
      'from the context\n',
    );
    await assert.rejects(readFile(join(bundle, 'rootfs/bin/ls')), 'the deleted base file is gone');

    const run = await runcRun(bundle, ['/bin/cat', '/app/made.txt']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hello from RUN\n');
    // busybox's sh runs applets without their links, so test for the link itself.
    const ls = await runcRun(bundle, ['/bin/sh', '-c', 'test -e /bin/ls; echo status=$?']);
    assert.equal(ls.stdout, 'status=1\n');
    const owner = await runcRun(bundle, ['/bin/stat', '-c', '%u:%g', '/data']);
    assert.equal(owner.stdout.trim(), '1000:1000');
  });

  it('names an image once for a repeated -t and reports its ID as Docker does', async () => {
    const ctx = join(work, 'names-ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nENV NAMED=1\n`);
    const archive = join(work, 'names.tar');
    const res = await runKiln([
      'build',
      '--progress=plain',
      '--cache-dir',
      join(work, 'names-cache'),
      '-t',
      'app:1',
      '-t',
      'docker.io/library/app:1',
      '-o',
      `type=docker,dest=${archive}`,
      '--metadata-file',
      join(work, 'names-meta.json'),
      '--iidfile',
      join(work, 'names-iid'),
      ctx,
    ]);
    assert.equal(res.code, 0, res.stderr);
    const meta = JSON.parse(await readFile(join(work, 'names-meta.json'), 'utf8'));
    assert.equal(meta['image.name'], 'docker.io/library/app:1');
    const listing = await runCommand('tar', ['-xOf', archive, 'manifest.json']);
    const [entry] = JSON.parse(listing.stdout) as { RepoTags: string[] }[];
    assert.deepEqual(entry?.RepoTags, ['app:1']);
    const iid = (await readFile(join(work, 'names-iid'), 'utf8')).trim();
    assert.match(res.stderr, new RegExp(`writing image ${iid} done`));
  });

  it('builds the same image as an unprivileged user with a subordinate id range', async () => {
    const user = await ensureTestUser();
    const userWork = join(work, 'user');
    await mkdir(userWork, { recursive: true });
    await runCommand('chown', ['-R', `${user.uid}:${user.gid}`, userWork]);
    const ctx = join(userWork, 'ctx');
    await makeContext(ctx, base);
    await runCommand('chown', ['-R', `${user.uid}:${user.gid}`, userWork]);

    const layout = join(userWork, 'layout');
    const ref = `${registry.host}/e2e/rootless:v1`;
    const res = await runKilnAs(user, [
      'build',
      '--progress=plain',
      '--cache-dir',
      join(userWork, 'cache'),
      '-o',
      `type=oci,dest=${layout},tar=false`,
      '-o',
      `type=tar,dest=${join(userWork, 'rootfs.tar')}`,
      '-t',
      ref,
      '--push',
      ctx,
    ]);
    assert.equal(res.code, 0, res.stderr);
    const listing = await runCommand('tar', [
      '-tvf',
      join(userWork, 'rootfs.tar'),
      '--numeric-owner',
    ]);
    assert.match(
      listing.stdout,
      /^d\S+ 1000\/1000 .* data\/?$/m,
      'the rootfs tar keeps the owners',
    );

    const remote = await skopeoInspect(`docker://${ref}`);
    assert.equal(
      (remote.Layers as string[]).length,
      4,
      'base layer plus WORKDIR, COPY and RUN layers',
    );
    const bundle = join(work, 'user-bundle');
    await umociUnpack(layout, 'v1', bundle);
    assert.equal(await readFile(join(bundle, 'rootfs/app/made.txt'), 'utf8'), 'hello from RUN\n');
    const owner = await runcRun(bundle, ['/bin/stat', '-c', '%u:%g', '/data']);
    assert.equal(owner.stdout.trim(), '1000:1000', 'ids are written as the container saw them');
  });

  it('reports a Dockerfile error at file:line:column with exit code 2 and writes nothing', async () => {
    const ctx = join(work, 'bad');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUNN echo hi\n`);
    const layout = join(work, 'bad-layout');
    const res = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      join(work, 'bad-cache'),
      '-o',
      `type=oci,dest=${layout},tar=false`,
      ctx,
    ]);
    assert.equal(res.code, 2, res.stderr);
    const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
    assert.ok(error);
    assert.equal(error.line, 2);
    assert.equal(typeof error.column, 'number');
    assert.match(String(error.hint), /RUN/);
    await assert.rejects(readFile(join(layout, 'index.json')), 'no output was written');
  });

  it('fails with exit code 1 when a RUN step fails, and leaves an earlier output intact', async () => {
    const ctx = join(work, 'fail');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo before; exit 3\n`);
    const out = join(work, 'fail-out.tar');
    await writeFile(out, 'earlier output');
    const res = await runKiln([
      'build',
      '--progress=plain',
      '--cache-dir',
      join(work, 'fail-cache'),
      '-o',
      `type=oci,dest=${out}`,
      ctx,
    ]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /exit code 3/);
    assert.match(res.stderr, /before/);
    assert.equal(await readFile(out, 'utf8'), 'earlier output');
  });
});
