/**
 * RUN for isolation 'none': no namespace of any kind, only chroot(2), which CAP_SYS_CHROOT
 * allows and Docker's default capability set has. The step's root is a CopiedRoot (a plain
 * directory tree), its changes are found by walking it, and they land in the upper dir in overlay
 * format like any other step's. This is for a throwaway container that cannot make namespaces
 * (no CAP_SYS_ADMIN, user namespaces refused by seccomp), as many Kubernetes pods are.
 *
 * What it cannot give, stated plainly: there is no /proc in the step (proc cannot be mounted),
 * /dev holds only the nodes mknod could make, the step shares the container's network, pids and
 * hostname, --network=none is refused, RUN --mount is emulated by moving and copying content in
 * and out of the root (see unshared-mounts.ts for its limits), and a process the step leaves
 * running is killed only through its process group. A step running as root keeps
 * CAP_SYS_CHROOT and can leave a chroot, so the container, not kiln, is the boundary here, as it
 * is for kaniko.
 */

import { spawn } from 'node:child_process';
import { chmod, lutimes, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../../errors.js';
import { makeSpecialNodes } from '../../image/tar/special-nodes.js';
import { onAbort } from '../../on-abort.js';
import { CopiedRoot } from '../snapshot/copied-root.js';
import { LayerStack, pathComponents } from '../snapshot/layer-stack.js';
import type { RunResult, RunSpec } from './run-step.js';
import { cleanEnv } from './step-script.js';
import { placeUnsharedMounts } from './unshared-mounts.js';

const SETPRIV = '/usr/bin/setpriv';
/** nsenter with --root and --wd but no namespace does fchdir+chroot(".") and nothing else. */
const NSENTER = '/usr/bin/nsenter';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Changes there are dropped, as the other modes drop them (tmpfs and bind mounts). */
const IGNORED = ['dev', 'proc', 'sys', 'etc/hosts', 'etc/resolv.conf'];

const DEVICES: { name: string; major: number; minor: number }[] = [
  { name: 'null', major: 1, minor: 3 },
  { name: 'zero', major: 1, minor: 5 },
  { name: 'full', major: 1, minor: 7 },
  { name: 'random', major: 1, minor: 8 },
  { name: 'urandom', major: 1, minor: 9 },
  { name: 'tty', major: 5, minor: 0 },
];

function defaultHosts(hostname: string): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`;
}

/** Stubs for the step, made in the "before" tree so they are in both trees and never diffed. */
async function makeStubs(before: string, spec: RunSpec): Promise<void> {
  const stack = new LayerStack([before], spec.xattrPrefix);
  for (const dir of ['proc', 'sys', 'dev']) {
    const hit = await stack.lstat(`/${dir}`);
    if (hit === undefined) await mkdir(path.join(before, dir), { mode: 0o755 });
  }
  const devHit = await stack.lstat('/dev');
  if (devHit?.stat.isDirectory()) {
    const missing = [];
    for (const d of DEVICES) {
      if ((await stack.lstat(`/dev/${d.name}`)) === undefined) missing.push(d);
    }
    // Without CAP_MKNOD these stay missing; the step then has no /dev/null.
    await makeSpecialNodes(
      missing.map((d) => ({
        path: path.join(before, 'dev', d.name),
        kind: 'char',
        ...d,
        mode: 0o666,
      })),
    );
  }
  if (spec.script !== undefined) await writeScript(before, devHit?.stat.isDirectory(), spec.script);

  const etc = await stack.lstat('/etc');
  if (etc === undefined) await mkdir(path.join(before, 'etc'), { mode: 0o755 });
  if (etc !== undefined && !etc.stat.isDirectory()) return;
  const resolv = spec.resolvConf ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  for (const [name, content] of [
    ['hosts', spec.hostsFile ?? defaultHosts(spec.hostname)],
    ['resolv.conf', resolv],
  ] as const) {
    const hit = await stack.lstat(`/etc/${name}`);
    // A symlinked file is left alone, as the other modes leave it.
    if (hit !== undefined && !hit.stat.isFile()) continue;
    const file = path.join(before, 'etc', name);
    // The "before" file may be a hard link to a layer file: replace it, never write through it.
    await rm(file, { force: true });
    await writeFile(file, content, { mode: 0o644 });
  }
  // The other modes mount over these files, which leaves /etc's times alone; so must this.
  const image = await LayerStack.fromLowerDirs(spec.lowerDirs, spec.xattrPrefix).lstat('/etc');
  if (image !== undefined) {
    const secs = (ns: bigint) => Number(ns) / 1e9;
    await lutimes(path.join(before, 'etc'), secs(image.stat.atimeNs), secs(image.stat.mtimeNs));
  }
}

/**
 * The heredoc script at /dev/pipes/<name>, which is never diffed (/dev is ignored). Without a
 * mount it cannot be made read-only: a step running as root could change it, to no effect.
 */
async function writeScript(
  before: string,
  devWasDir: boolean | undefined,
  script: NonNullable<RunSpec['script']>,
): Promise<void> {
  if (devWasDir === false) {
    throw new BuildError(
      'RUN_HEREDOC_NO_DEV',
      'a RUN heredoc script runs from /dev/pipes, but /dev in this image is not a directory',
    );
  }
  const dir = path.join(before, 'dev', 'pipes');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, script.name);
  // The "before" tree may hard-link layer files: replace, never write through.
  await rm(file, { force: true });
  await writeFile(file, script.data, { mode: 0o755 });
  await chmod(file, 0o755);
}

/** Resolves the working directory inside the root, creating it (0755, root) when missing. */
async function ensureWorkDir(root: string, spec: RunSpec): Promise<string> {
  const stack = new LayerStack([root], spec.xattrPrefix);
  const resolved = await stack.resolve(spec.cwd);
  let current = root;
  for (const part of pathComponents(resolved)) {
    current = path.join(current, part);
    const hit = await stack.lstat(path.relative(root, current) || '/');
    if (hit === undefined) {
      await mkdir(current, { mode: 0o755 });
      continue;
    }
    if (!hit.stat.isDirectory()) {
      throw new BuildError('RUN_CWD_NOT_DIR', `working directory ${spec.cwd} is not a directory`);
    }
  }
  return current;
}

function checkSupported(spec: RunSpec): void {
  if (spec.network === 'none') {
    throw new BuildError(
      'RUN_NETWORK_NEEDS_NAMESPACES',
      '--network=none needs a network namespace',
      {
        hint: 'isolation none shares the container network; use --isolation userns or chroot',
      },
    );
  }
}

export async function runStepUnshared(spec: RunSpec): Promise<RunResult> {
  if (spec.argv.length === 0) throw new BuildError('RUN_NO_COMMAND', 'RUN has no command');
  checkSupported(spec);
  spec.signal?.throwIfAborted();

  const tree = await CopiedRoot.create(
    spec.lowerDirs,
    spec.scratchDir ?? os.tmpdir(),
    spec.xattrPrefix,
    { prepare: (before) => makeStubs(before, spec) },
  );
  try {
    const placed = await placeUnsharedMounts(
      tree.root,
      spec.scratchDir ?? os.tmpdir(),
      spec.mounts ?? [],
      spec.secretEnv ?? [],
      spec.xattrPrefix,
    );
    let result: Omit<RunResult, 'createdMountpoints'>;
    try {
      const wd = await ensureWorkDir(tree.root, spec);
      result = await spawnChrooted(tree.root, wd, spec, placed.env);
    } finally {
      await placed.undo();
    }
    if (result.exitCode === 0 && result.signal === undefined) {
      await tree.commit(spec.upperDir, IGNORED);
    }
    return { ...result, createdMountpoints: [] };
  } finally {
    await tree.dispose();
  }
}

function spawnChrooted(
  root: string,
  wd: string,
  spec: RunSpec,
  secretEnv: string[],
): Promise<Omit<RunResult, 'createdMountpoints'>> {
  const env = cleanEnv([...spec.env, ...secretEnv]);
  if (!env.some((kv) => kv.startsWith('PATH='))) env.unshift(`PATH=${DEFAULT_PATH}`);
  const groups =
    spec.additionalGids.length > 0 ? `--groups=${spec.additionalGids.join(',')}` : '--clear-groups';
  // The environment goes to setpriv as its own, never as words of a command line, where any
  // process could read a secret variable.
  const argv = [
    `--regid=${spec.gid}`,
    groups,
    '--',
    NSENTER,
    `--root=${root}`,
    `--wd=${wd}`,
    ...(spec.uid === 0 ? [] : [`--setuid=${spec.uid}`]),
    '--',
    ...spec.argv,
  ];

  return new Promise((resolve, reject) => {
    const child = spawn(SETPRIV, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: Object.fromEntries(
        env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      ),
    });
    let aborted = false;
    const kill = () => {
      aborted = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const stopWatching = onAbort(spec.signal, kill);
    child.stdout.on('data', (c: Buffer) => spec.onOutput?.('stdout', c));
    child.stderr.on('data', (c: Buffer) => spec.onOutput?.('stderr', c));
    child.on('error', (err) => {
      stopWatching();
      reject(new BuildError('RUN_SPAWN', `cannot run ${SETPRIV}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      stopWatching();
      // Whatever the step left running in its group goes with it.
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Nothing left.
      }
      if (aborted) {
        reject(new BuildError('RUN_CANCELED', 'RUN step canceled', { cause: spec.signal?.reason }));
        return;
      }
      if (signal !== null) resolve({ exitCode: 128 + (os.constants.signals[signal] ?? 1), signal });
      else resolve({ exitCode: code ?? 1 });
    });
  });
}
