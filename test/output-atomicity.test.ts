/**
 * Outputs are all or nothing, through the real CLI: a build that fails at a push, while putting
 * an output in place, or while writing stdout leaves every destination as it was (an OCI layout
 * directory byte for byte), a destination that cannot be written fails before anything is built,
 * and kiln builds writing one layout directory at once both end up in its index.json.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { runCommand } from './support/command.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { jsonEvents, KILN_BIN, runKiln, runKilnAs } from './support/kiln.js';
import { skopeoInspect } from './support/oci-tools.js';
import { ensureTestUser, type TestUser } from './support/users.js';

/** Every entry under `dir` with its type, mode, owner and content hash: equal means unchanged. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (at: string, rel: string): Promise<void> => {
    for (const name of (await readdir(at)).sort()) {
      const path = join(at, name);
      const key = rel ? `${rel}/${name}` : name;
      const info = await lstat(path);
      const meta = `${info.mode.toString(8)} ${info.uid}:${info.gid}`;
      if (info.isDirectory()) {
        out[key] = `dir ${meta}`;
        await walk(path, key);
      } else if (info.isSymbolicLink()) {
        out[key] = `link ${meta} ${await readlink(path)}`;
      } else {
        const hash = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
        out[key] = `file ${meta} ${hash}`;
      }
    }
  };
  await walk(dir, '');
  return out;
}

/** Names kiln gives its temp files and backups: none may be left after a build. */
function leftovers(snap: Record<string, string>): string[] {
  return Object.keys(snap).filter((k) => /\.kiln-|\.tmp$|index\.json\.lock/.test(k));
}

describe('kiln build outputs are all or nothing', () => {
  const fixture = useBusyboxRegistry('atomic');
  let work: string;
  let ctx: string;
  let user: TestUser;

  before(async () => {
    work = fixture.work;
    await chmod(work, 0o755);
    ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${fixture.base}\nRUN mkdir -p /app && echo new > /app/x && echo new > /one\n`,
    );
    user = await ensureTestUser();
  });

  it('leaves every earlier output, an OCI layout byte for byte, as it was when the push fails', async () => {
    const out = join(work, 'push-fails');
    const layout = join(out, 'layout');
    const cache = join(work, 'cache-push');
    const other = join(work, 'ctx-other');
    await mkdir(other);
    await writeFile(join(other, 'Dockerfile'), `FROM ${fixture.base}\nLABEL earlier=yes\n`);
    const first = await runKiln([
      'build',
      '--progress=plain',
      '--cache-dir',
      cache,
      '-t',
      'earlier:v0',
      '-o',
      `type=oci,dest=${layout},tar=false`,
      other,
    ]);
    assert.equal(first.code, 0, first.stderr);
    await mkdir(join(out, 'dir'));
    await writeFile(join(out, 'dir', 'one'), 'old');
    await writeFile(join(out, 'image.tar'), 'earlier');
    await writeFile(join(out, 'meta.json'), 'old metadata');
    await writeFile(join(out, 'iid'), 'old iid');
    const before = await snapshot(out);

    // The registry itself works; only the manifest PUT is refused, as a registry may refuse it.
    const proxy = await startFaultProxy(fixture.registry.host, (r) =>
      r.method === 'PUT' && r.url.includes('/manifests/')
        ? {
            kind: 'status',
            status: 403,
            headers: { 'content-type': 'application/json' },
            body: '{"errors":[{"code":"DENIED","message":"no"}]}',
          }
        : { kind: 'pass' },
    );
    try {
      const res = await runKiln([
        'build',
        '--progress=plain',
        '--cache-dir',
        cache,
        '-t',
        `${proxy.host}/atomic/app:v1`,
        '--push',
        '-o',
        `type=oci,dest=${layout},tar=false`,
        '-o',
        `type=docker,dest=${join(out, 'image.tar')}`,
        '-o',
        `type=local,dest=${join(out, 'dir')}`,
        '-o',
        `type=tar,dest=${join(out, 'new', 'rootfs.tar')}`,
        '--metadata-file',
        join(out, 'meta.json'),
        '--iidfile',
        join(out, 'iid'),
        ctx,
      ]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /403|denied/i);
    } finally {
      await proxy.stop();
    }
    assert.deepEqual(await snapshot(out), before, 'no output changed, none was added');
  });

  it('takes back the outputs already in place when a later one cannot be put in place', async () => {
    // As the unprivileged user a directory owned by the real root cannot be written even inside
    // kiln's user namespace; the checks before the build look only at the destination itself,
    // so merging into it fails half-way, after the first output is already in place.
    const out = join(work, 'merge-fails');
    await mkdir(join(out, 'dir', 'app'), { recursive: true });
    await writeFile(join(out, 'dir', 'one'), 'old');
    await writeFile(join(out, 'image.tar'), 'earlier');
    for (const path of [out, join(out, 'dir'), join(out, 'dir', 'one'), join(out, 'image.tar')]) {
      await chown(path, user.uid, user.gid);
    }
    const before = await snapshot(out);

    const res = await runKilnAs(user, [
      'build',
      '--progress=plain',
      '--cache-dir',
      join(out, 'cache'),
      '-o',
      `type=docker,dest=${join(out, 'image.tar')}`,
      '-o',
      `type=local,dest=${join(out, 'dir')}`,
      ctx,
    ]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /cannot write the output|EACCES|permission denied/i);
    const after = await snapshot(out);
    for (const key of Object.keys(after)) if (key.startsWith('cache')) delete after[key];
    assert.deepEqual(after, before, 'both outputs are as they were');
  });

  it('takes back the outputs already in place when the reader of stdout stops early', async () => {
    const out = join(work, 'stdout-fails');
    await mkdir(out);
    await writeFile(join(out, 'image.tar'), 'earlier');
    const before = await snapshot(out);
    const kiln = `'${process.execPath}' '${KILN_BIN}'`;
    const res = await runCommand(
      '/bin/sh',
      [
        '-c',
        `${kiln} build --progress=plain --cache-dir '${join(work, 'cache-stdout')}' ` +
          `-o type=docker,dest='${join(out, 'image.tar')}' -o type=oci,dest=- '${ctx}' ` +
          `2>'${join(work, 'stdout-fails.err')}' | head -c 100 >/dev/null`,
      ],
      { check: false, timeoutMs: 300_000 },
    );
    assert.equal(res.code, 0);
    assert.match(await readFile(join(work, 'stdout-fails.err'), 'utf8'), /closed it before/);
    assert.deepEqual(await snapshot(out), before);
  });

  it('adds every image to index.json when builds write one layout directory at once', async () => {
    const layout = join(work, 'shared-layout');
    const cache = join(work, 'cache-shared');
    const labelled = join(work, 'ctx-shared');
    await mkdir(labelled);
    await writeFile(join(labelled, 'Dockerfile'), `FROM ${fixture.base}\nARG N\nLABEL n=$N\n`);
    // A long index makes each update take a while, so unlocked updates would overlap and lose
    // entries; the entries that are there already must stay too.
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const earlier = Array.from({ length: 20_000 }, (_, i) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      size: 1,
      annotations: { 'org.opencontainers.image.ref.name': `earlier-${i}` },
    }));
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: earlier }),
    );
    const tags = ['v1', 'v2', 'v3', 'v4'];
    const results = await Promise.all(
      tags.map((tag) =>
        runKiln([
          'build',
          '--progress=plain',
          '--cache-dir',
          `${cache}-${tag}`,
          '--build-arg',
          `N=${tag}`,
          '-t',
          `shared:${tag}`,
          '-o',
          `type=oci,dest=${layout},tar=false`,
          labelled,
        ]),
      ),
    );
    for (const res of results) assert.equal(res.code, 0, res.stderr);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    const names = new Set(
      index.manifests.map(
        (m: { annotations?: Record<string, string> }) =>
          m.annotations?.['org.opencontainers.image.ref.name'],
      ),
    );
    assert.equal(index.manifests.length, earlier.length + tags.length);
    for (const tag of tags) assert.ok(names.has(tag), `${tag} is in index.json`);
    for (const tag of tags) {
      const image = await skopeoInspect(`oci:${layout}:${tag}`);
      assert.equal((image.Labels as Record<string, string>).n, tag);
    }
    assert.deepEqual(leftovers(await snapshot(layout)), []);
  });

  describe('a disk that fills while an archive is written', () => {
    let small: string;

    before(async () => {
      small = join(work, 'small-mount');
      await mkdir(small);
      await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    });
    after(async () => {
      await runCommand('umount', [small], { check: false });
    });

    for (const type of ['oci', 'docker', 'tar']) {
      it(`fails type=${type} with OUTPUT_WRITE_FAILED and leaves nothing on that disk`, async () => {
        const big = join(work, `big-${type}`);
        await mkdir(big, { recursive: true });
        await writeFile(
          join(big, 'Dockerfile'),
          `FROM ${fixture.base}\nRUN head -c 3000000 /dev/urandom > /big-${type}\n`,
        );
        const cache = join(work, `cache-full-${type}`);
        const dest = join(small, `out-${type}.tar`);
        const res = await runKiln([
          'build',
          '--progress=json',
          '--cache-dir',
          cache,
          '-o',
          `type=${type},dest=${dest}`,
          big,
        ]);
        assert.equal(res.code, 1, res.stderr);
        const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
        assert.equal(error?.code, 'OUTPUT_WRITE_FAILED', res.stderr);
        assert.match(String(error?.message), /ENOSPC/);
        assert.doesNotMatch(res.stderr, /Unhandled|\n\s+at /, 'no stack trace');
        assert.deepEqual(await readdir(small), [], 'no temp file fills the disk');
        const tmp = await readdir(join(cache, 'tmp')).catch(() => [] as string[]);
        assert.deepEqual(tmp, [], 'no scratch left in the cache');
      });
    }
  });

  describe('a destination that cannot be written fails before the build', () => {
    let readOnlyMount: string;

    before(async () => {
      readOnlyMount = join(work, 'ro-mount');
      await mkdir(readOnlyMount);
      await runCommand('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnlyMount]);
    });
    after(async () => {
      await runCommand('umount', [readOnlyMount], { check: false });
    });

    /** Runs a build that must stop at the check: exit 2, the output named, nothing built. */
    async function refused(
      args: string[],
      expected: RegExp,
      as?: TestUser,
      code = 'OUTPUT_UNWRITABLE',
    ): Promise<void> {
      const cache = join(work, `cache-refused-${Math.random().toString(36).slice(2)}`);
      const full = ['build', '--progress=json', '--cache-dir', cache, ...args, ctx];
      const res = as ? await runKilnAs(as, full) : await runKiln(full);
      assert.equal(res.code, 2, res.stderr);
      const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
      assert.ok(error, res.stderr);
      assert.equal(error.code, code);
      assert.match(String(error.message), expected);
      assert.ok(!jsonEvents(res.stderr).some((e) => e.type === 'step'), 'no step started');
      await assert.rejects(stat(cache), 'the cache directory was not even made');
    }

    it('as root: a read-only filesystem, a file in the way, a directory in the way', async () => {
      const plain = join(work, 'plain-file');
      await writeFile(plain, 'x');
      const aDir = join(work, 'a-dir');
      await mkdir(aDir, { recursive: true });
      const badLayout = join(work, 'bad-layout');
      await mkdir(badLayout, { recursive: true });
      await writeFile(join(badLayout, 'index.json'), 'not json');

      const ro = join(readOnlyMount, 'x.tar');
      await refused(['-o', `type=docker,dest=${ro}`], /type=docker,dest=.*ro-mount.*read-only/);
      await refused(['-o', `type=local,dest=${join(readOnlyMount, 'sub', 'dir')}`], /read-only/);
      await refused(
        ['-o', `type=tar,dest=${join(plain, 'sub', 'x.tar')}`],
        /type=tar,dest=.*plain-file.*not a directory/,
      );
      await refused(['-o', `type=local,dest=${plain}`], /plain-file is not a directory/);
      await refused(['-o', `type=oci,dest=${aDir}`], /a-dir is a directory/);
      await refused(['-o', `type=oci,dest=${badLayout},tar=false`], /index\.json is not/);
      await refused(
        ['-o', `type=docker,dest=${join(work, 'ok.tar')}`, '--iidfile', aDir],
        /--iidfile .*a-dir is a directory/,
      );
      await refused(
        ['--metadata-file', join(work, 'missing', 'meta.json')],
        /--metadata-file .*missing does not exist/,
      );
      const layoutDir = join(work, 'nested-layout');
      await refused(
        ['-o', `type=oci,dest=${layoutDir},tar=false`, '--iidfile', join(layoutDir, 'index.json')],
        /--iidfile .* writes inside the output of -o type=oci/,
        undefined,
        'OUTPUT_CONFLICT',
      );
      const localDir = join(work, 'nested-local');
      await refused(
        ['-o', `type=local,dest=${localDir}`, '-o', `type=local,dest=${join(localDir, 'x')}`],
        /writes inside the output of -o type=local/,
        undefined,
        'OUTPUT_CONFLICT',
      );
      const same = join(work, 'same.tar');
      await refused(
        ['-o', `type=docker,dest=${same}`, '-o', `type=oci,dest=${same}`],
        /type=docker.* and -o type=oci.* write the same path/,
        undefined,
        'OUTPUT_CONFLICT',
      );
    });

    it('as an unprivileged user: directories it may not write', async () => {
      const rootOwned = join(work, 'root-owned');
      await mkdir(rootOwned, { recursive: true });
      await chmod(rootOwned, 0o755);
      const ownReadOnly = join(work, 'own-read-only');
      await mkdir(ownReadOnly, { recursive: true });
      await chown(ownReadOnly, user.uid, user.gid);
      await chmod(ownReadOnly, 0o555);

      await refused(
        ['-o', `type=tar,dest=${join(rootOwned, 'x.tar')}`],
        /root-owned is not writable \(EACCES\)/,
        user,
      );
      await refused(['-o', `type=local,dest=${rootOwned}`], /root-owned is not writable/, user);
      await refused(
        ['-o', `type=oci,dest=${join(ownReadOnly, 'new', 'layout')},tar=false`],
        /own-read-only is not writable/,
        user,
      );
      await refused(['--iidfile', join(rootOwned, 'iid')], /--iidfile .*root-owned/, user);
      await rm(ownReadOnly, { recursive: true, force: true });
    });
  });
});
