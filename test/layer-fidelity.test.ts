/**
 * Layers that must come out as Docker/BuildKit make them, built by the real CLI in every way of
 * isolating steps (user namespace, chroot, and none with its walking differ) and read back with
 * GNU tar and umoci: writes through a symlinked directory of a lower layer, hard links to files
 * of lower layers, context file names that are not UTF-8, device nodes in the context and a
 * very deep context tree.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeContext } from './isolation-support.js';
import { type CaseSpec, checkImage } from './support/case-checks.js';
import { type CaseImage, readCaseImage } from './support/case-image.js';
import { type CommandResult, runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln } from './support/kiln.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const isRoot = process.getuid?.() === 0;
const ISOLATIONS = ['userns', 'chroot', 'none'] as const;
type Isolation = (typeof ISOLATIONS)[number];

describe('layer fidelity', { skip: !isRoot && 'needs root (chroot, none, mknod)' }, () => {
  let registry: TestRegistry;
  let base: string;
  let work: string;

  before(async () => {
    registry = await startRegistry();
    base = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-layer-fidelity-'));
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Builds `ctx` into an OCI layout with one isolation; the result of the CLI and its dir. */
  async function build(
    ctx: string,
    isolation: Isolation,
    progress = 'plain',
  ): Promise<{ res: CommandResult; layout: string }> {
    const layout = join(ctx, '..', `${isolation}-layout`);
    const res = await runKiln(
      [
        'build',
        `--isolation=${isolation}`,
        `--progress=${progress}`,
        '--cache-dir',
        join(ctx, '..', `${isolation}-cache`),
        '-o',
        `type=oci,dest=${layout},tar=false`,
        ctx,
      ],
      { env: { ...process.env, KILN_ALLOW_ISOLATION_NONE: '1' } },
    );
    return { res, layout };
  }

  /** Builds in every isolation and checks each image against `spec` and `extra`. */
  async function buildAndCheck(
    ctx: string,
    spec: CaseSpec,
    extra: (image: CaseImage) => string[] = () => [],
  ): Promise<void> {
    const failures: string[] = [];
    for (const isolation of ISOLATIONS) {
      const { res, layout } = await build(ctx, isolation);
      if (res.code !== 0) {
        failures.push(`[${isolation}] build failed (${res.code}):\n${res.stderr.slice(-2000)}`);
        continue;
      }
      const image = await readCaseImage(layout, 'latest');
      const found = [...(await checkImage(image, spec)), ...extra(image)];
      failures.push(...found.map((f) => `[${isolation}] ${f}`));
    }
    assert.deepEqual(failures, []);
  }

  it('writes through a symlinked directory of a lower layer and keeps the link', async () => {
    const ctx = await writeContext(
      await mkdtemp(join(work, 'symlink-')),
      'ctx',
      `FROM ${base}
RUN mkdir -p /usr/lib2 /usr/lib3 && ln -s usr/lib2 /lib2 && ln -s /usr/lib3 /lib3 \\
  && ln -s ../.. /usr/lib2/up
RUN echo run > /lib2/run.txt && mkdir /lib3/made-by-run
COPY foo.txt /lib2/
COPY foo.txt /lib2/renamed.txt
COPY dir /lib3/dir/
COPY foo.txt /lib2/up/etc/through-up.txt
ADD foo.txt /lib3/added/
WORKDIR /lib2/sub
RUN echo here > here.txt
WORKDIR /lib3
RUN echo three > three.txt
`,
      { 'foo.txt': 'foo\n' },
    );
    await runCommand('mkdir', [join(ctx, 'dir')]);
    await runCommand('sh', ['-c', `echo inner > '${join(ctx, 'dir', 'inner.txt')}'`]);

    const spec: CaseSpec = {
      files: {
        '/lib2': { type: 'symlink', link: 'usr/lib2' },
        '/lib3': { type: 'symlink', link: '/usr/lib3' },
        '/usr/lib2/run.txt': { type: 'file', content: 'run\n' },
        '/usr/lib3/made-by-run': { type: 'dir' },
        '/usr/lib2/foo.txt': { type: 'file', content: 'foo\n' },
        '/usr/lib2/renamed.txt': { type: 'file', content: 'foo\n' },
        '/usr/lib3/dir/inner.txt': { type: 'file', content: 'inner\n' },
        '/etc/through-up.txt': { type: 'file', content: 'foo\n' },
        '/usr/lib3/added/foo.txt': { type: 'file', content: 'foo\n' },
        '/usr/lib2/sub': { type: 'dir', mode: '0755' },
        '/usr/lib2/sub/here.txt': { type: 'file', content: 'here\n' },
        '/usr/lib3/three.txt': { type: 'file', content: 'three\n' },
      },
      absent: ['/usr/lib2/up/etc'],
      config: { WorkingDir: '/lib3' },
    };
    // Only the step that made the links may have an entry at /lib2 or /lib3 or below them.
    const linksUntouched = (image: CaseImage): string[] =>
      image.layers
        .slice(2)
        .flatMap((entries, i) =>
          entries
            .filter((e) => /^\/lib[23](\/|$)/.test(e.path))
            .map((e) => `layer ${i + 2} has ${e.type} ${e.path} (the link was replaced)`),
        );
    await buildAndCheck(ctx, spec, linksUntouched);
  });

  it('holds both names of a hard link to a lower layer file, one of them a link entry', async () => {
    const ctx = await writeContext(
      await mkdtemp(join(work, 'hardlink-')),
      'ctx',
      `FROM ${base}
RUN mkdir /d && echo a > /d/a
RUN ln /etc/passwd /etc/passwd2 && ln /d/a /d/b && ln /bin/busybox /usr/bb-link
`,
    );
    const spec: CaseSpec = {
      files: {
        '/etc/passwd2': { type: ['file', 'hardlink'] },
        '/d/b': { type: ['file', 'hardlink'], content: 'a\n' },
      },
      // Each group in one layer: one regular entry, the other names link entries to it.
      hardlinks: [
        ['/etc/passwd', '/etc/passwd2'],
        ['/bin/busybox', '/usr/bb-link'],
        ['/d/a', '/d/b'],
      ],
    };
    await buildAndCheck(ctx, spec);
  });

  it('copies a device node of the context as an empty file with its mode, as Docker does', async () => {
    const ctx = await writeContext(
      await mkdtemp(join(work, 'device-')),
      'ctx',
      `FROM ${base}\nCOPY . /ctx/\nCOPY null-device /single-device\n`,
    );
    await runCommand('mknod', ['-m', '0640', join(ctx, 'null-device'), 'c', '1', '3']);
    await runCommand('mknod', ['-m', '0600', join(ctx, 'loop-device'), 'b', '7', '0']);
    await runCommand('chown', ['1000:1000', join(ctx, 'loop-device')]);
    const emptyFile = (mode: string) => ({ type: 'file', size: 0, mode, uid: 0, gid: 0 });
    await buildAndCheck(ctx, {
      files: {
        '/ctx/null-device': emptyFile('0640'),
        '/ctx/loop-device': emptyFile('0600'),
        '/single-device': emptyFile('0640'),
      },
    });
  });

  it('refuses a context or RUN file name that is not UTF-8 with one error naming it escaped', async () => {
    const parent = await mkdtemp(join(work, 'names-'));
    const ctx = await writeContext(parent, 'ctx', `FROM ${base}\nCOPY . /ctx/\n`, {
      'ok.txt': 'ok',
    });
    await runCommand(
      'sh',
      ['-c', `mkdir "$(printf 'dir-\\377')" && : > "$(printf 'dir-\\377/caf\\351')"`],
      {
        cwd: ctx,
      },
    );
    const run = await writeContext(
      parent,
      'run',
      `FROM ${base}\nRUN mkdir /made && touch "$(printf '/made/n\\344me')"\n`,
    );
    const ignored = await writeContext(parent, 'ignored', `FROM ${base}\nCOPY . /ctx/\n`, {
      '.dockerignore': 'dir-*\n',
    });
    await runCommand('sh', ['-c', `cp -a "$(printf '${ctx}/dir-\\377')" .`], { cwd: ignored });

    const failures: string[] = [];
    const expectRefused = (label: string, res: CommandResult, shown: string) => {
      if (res.code !== 1) failures.push(`${label}: exit ${res.code}, expected 1`);
      const errors = jsonEvents(res.stderr).filter((e) => e.type === 'error');
      const named = errors.some(
        (e) => e.code === 'PATH_NOT_UTF8' && String(e.message).includes(`'${shown}'`),
      );
      if (!named) failures.push(`${label}: no PATH_NOT_UTF8 naming '${shown}':\n${res.stderr}`);
      if (/^\s+at /m.test(res.stderr)) failures.push(`${label}: printed a stack trace`);
    };
    for (const isolation of ISOLATIONS) {
      expectRefused(`[${isolation}] COPY`, (await build(ctx, isolation, 'json')).res, 'dir-\\xff');
      expectRefused(
        `[${isolation}] RUN`,
        (await build(run, isolation, 'json')).res,
        'made/n\\xe4me',
      );
      const res = (await build(ignored, isolation)).res;
      if (res.code !== 0) failures.push(`[${isolation}] ignored name: exit ${res.code}`);
    }
    assert.deepEqual(failures, []);
  });
});
