/**
 * Runs one RUN step: a mount + pid + uts namespace (and a network namespace for --network none)
 * made by `unshare --fork --kill-child`, in which a small sh script mounts the overlay root and
 * the standard filesystems and then becomes the command, chrooted, with the step's user. Must be
 * called from inside the sandbox namespaces (see userns.ts): kiln is uid 0 there and can mount.
 */

import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../../errors.js';
import { onAbort } from '../../on-abort.js';
import type { XattrPrefix } from '../snapshot/entry-from-stat.js';
import { LayerStack } from '../snapshot/layer-stack.js';
import { checkOverlayPath } from '../snapshot/mount-merged.js';
import { ensureCwd, prepareMountpoints } from './mountpoints.js';
import { FIRST_DATA_FD, planStepMounts, type SecretEnv, type StepMount } from './step-mounts.js';
import { buildStepScript, SETUP_DONE } from './step-script.js';
import { runStepUnshared } from './unshared-step.js';
import { activeIsolation, UNSHARE } from './userns.js';

export type RunNetwork = 'default' | 'none' | 'host';

export interface RunSpec {
  /** Snapshot dirs of the image, bottom first (overlay format). */
  lowerDirs: string[];
  /** Empty dir that receives the step's changes (the layer). */
  upperDir: string;
  /** Empty dir on the same filesystem as upperDir. */
  workDir: string;
  argv: string[];
  /** 'K=V' entries; PATH gets BuildKit's default when absent. */
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  network: RunNetwork;
  hostname: string;
  /** Content for /etc/hosts; defaults to localhost entries plus the hostname. */
  hostsFile?: string;
  /** Content for /etc/resolv.conf; defaults to a copy of the host's. */
  resolvConf?: string;
  xattrPrefix: XattrPrefix;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  signal?: AbortSignal;
  /** Where the step's own scratch files go (merged mountpoint, stubs); defaults to os.tmpdir(). */
  scratchDir?: string;
  /** RUN --mount mounts. */
  mounts?: StepMount[];
  /** A heredoc script, shown read-only and executable at /dev/pipes/<name>. */
  script?: { name: string; data: Buffer };
  /** Secret environment variables; their values reach the command only through a pipe. */
  secretEnv?: SecretEnv[];
}

export interface RunResult {
  exitCode: number;
  signal?: string;
  /**
   * Layer paths of mountpoints the image did not have. They live in a separate lower layer, so
   * they only reach the upper dir if the command changes them; the differ should ignore them.
   */
  createdMountpoints: string[];
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function defaultHosts(hostname: string): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`;
}

async function hostResolvConf(): Promise<string> {
  try {
    return await readFile('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

/** The deepest directory holding all paths, and each path relative to it. */
function relativeToCommon(paths: string[]): { base: string; rel: string[] } {
  const split = paths.map((p) => path.resolve(p).split('/').filter(Boolean));
  const first = split[0] ?? [];
  let n = first.length;
  for (const parts of split) {
    let i = 0;
    while (i < n && parts[i] === first[i]) i++;
    n = i;
  }
  // Keep at least one component per path: overlay rejects an empty lowerdir entry.
  const shortest = Math.min(...split.map((s) => s.length));
  n = Math.min(n, shortest - 1);
  const base = `/${first.slice(0, n).join('/')}`;
  return { base, rel: split.map((s) => s.slice(n).join('/')) };
}

function withDefaultPath(env: string[]): string[] {
  return env.some((kv) => kv.startsWith('PATH=')) ? env : [`PATH=${DEFAULT_PATH}`, ...env];
}

/** The kernel's limit on mount option data is one page. */
const MAX_MOUNT_OPTIONS = 4000;

export async function runStep(spec: RunSpec): Promise<RunResult> {
  if (activeIsolation() === 'none') return runStepUnshared(spec);
  if (spec.argv.length === 0) throw new BuildError('RUN_NO_COMMAND', 'RUN has no command');
  spec.signal?.throwIfAborted();

  const scratch = await mkdtemp(path.join(spec.scratchDir ?? os.tmpdir(), 'kiln-run-'));
  try {
    return await runInScratch(spec, scratch);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The overlay's root directory is the upper dir itself, which the snapshot store makes 0700
 * root:root, so a step running as another user could not even reach /bin/sh. It gets the root
 * of the highest layer that set one (a `./` entry; extracted layers without one keep the
 * store's 0700), else 0755 root:root, which is what container runtimes give a rootfs.
 */
async function setRootAttributes(upperDir: string, lowerDirs: string[]): Promise<void> {
  let mode = 0o755;
  let uid = 0;
  let gid = 0;
  for (const dir of [...lowerDirs].reverse()) {
    const st = await stat(dir);
    if ((st.mode & 0o7777) === 0o700 && st.uid === 0 && st.gid === 0) continue;
    mode = st.mode & 0o7777;
    uid = st.uid;
    gid = st.gid;
    break;
  }
  await chown(upperDir, uid, gid);
  await chmod(upperDir, mode);
}

async function runInScratch(spec: RunSpec, scratch: string): Promise<RunResult> {
  const stubs = path.join(scratch, 'stubs');
  const merged = path.join(scratch, 'root');
  await Promise.all([mkdir(stubs, { mode: 0o755 }), mkdir(merged, { mode: 0o755 })]);

  const lowerStack = LayerStack.fromLowerDirs(spec.lowerDirs, spec.xattrPrefix);
  await setRootAttributes(spec.upperDir, spec.lowerDirs);
  const plan = await prepareMountpoints(lowerStack, stubs);
  const extra = await planStepMounts(spec.mounts ?? [], spec.secretEnv ?? [], {
    rootStack: lowerStack,
    rootStubs: stubs,
    merged,
    scratch,
    xattrPrefix: spec.xattrPrefix,
  });
  const withUpper = LayerStack.fromLowerDirs([...spec.lowerDirs, spec.upperDir], spec.xattrPrefix);
  const cwd = await ensureCwd(withUpper, spec.upperDir, spec.cwd);

  const hostsFile = path.join(scratch, 'hosts');
  const resolvConfFile = path.join(scratch, 'resolv.conf');
  await writeFile(hostsFile, spec.hostsFile ?? defaultHosts(spec.hostname), { mode: 0o644 });
  await writeFile(resolvConfFile, spec.resolvConf ?? (await hostResolvConf()), { mode: 0o644 });

  // Overlay lists the top lower first; the stubs layer sits above the image.
  const topFirst = [stubs, ...[...spec.lowerDirs].reverse()];
  const all = [...topFirst, spec.upperDir, spec.workDir];
  for (const d of all) checkOverlayPath(path.resolve(d));
  const { base, rel } = relativeToCommon(all);
  const lowerRel = rel.slice(0, topFirst.length);
  if (lowerRel.join(':').length > MAX_MOUNT_OPTIONS) {
    throw new BuildError(
      'RUN_TOO_MANY_LAYERS',
      `${spec.lowerDirs.length} layers do not fit in one overlay mount`,
      {
        hint: 'squash the base image or reduce the number of layers',
      },
    );
  }

  const script = buildStepScript({
    ...(await writeScript(spec, scratch, plan.mount.dev)),
    baseDir: base,
    lowerDirs: lowerRel,
    upperDir: rel[topFirst.length] as string,
    workDir: rel[topFirst.length + 1] as string,
    userxattr: spec.xattrPrefix === 'user',
    merged,
    mount: plan.mount,
    hostsFile,
    resolvConfFile,
    hostname: spec.hostname,
    newNetwork: spec.network === 'none',
    env: withDefaultPath(spec.env),
    cwd,
    uid: spec.uid,
    gid: spec.gid,
    additionalGids: spec.additionalGids,
    argv: spec.argv,
    mountLines: extra.lines,
    envWords: extra.envWords,
  });

  const result = await spawnStep(script, spec, extra.fdData);
  return { ...result, createdMountpoints: [...plan.created, ...extra.created] };
}

/** Writes the heredoc script where the step script copies it from. */
async function writeScript(
  spec: RunSpec,
  scratch: string,
  devMountable: boolean,
): Promise<{ script?: { name: string; hostPath: string; size: number } }> {
  if (spec.script === undefined) return {};
  if (!devMountable) {
    throw new BuildError(
      'RUN_HEREDOC_NO_DEV',
      'a RUN heredoc script runs from /dev/pipes, but /dev in this image is not a directory',
    );
  }
  const hostPath = path.join(scratch, 'heredoc-script');
  await writeFile(hostPath, spec.script.data, { mode: 0o755 });
  return { script: { name: spec.script.name, hostPath, size: spec.script.data.length } };
}

function spawnStep(
  script: string,
  spec: RunSpec,
  fdData: Buffer[],
): Promise<Omit<RunResult, 'createdMountpoints'>> {
  const ns = ['--mount', '--pid', '--uts', '--fork', '--kill-child', '--propagation', 'private'];
  if (spec.network === 'none') ns.push('--net');

  return new Promise((resolve, reject) => {
    // A process group of its own, so cancelling can kill unshare and everything it started even
    // if the pid namespace's init has not been reached yet.
    const child = spawn(UNSHARE, [...ns, '--', '/bin/sh', '-c', script], {
      stdio: [
        'ignore',
        'pipe',
        'pipe',
        'pipe',
        'ignore',
        'ignore',
        ...fdData.map(() => 'pipe' as const),
      ],
      detached: true,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    let setupLog = '';
    let aborted = false;

    const kill = () => {
      aborted = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    };
    const stopWatching = onAbort(spec.signal, kill);

    for (const [i, data] of fdData.entries()) {
      const pipe = child.stdio[FIRST_DATA_FD + i] as NodeJS.WritableStream | null;
      // A setup failure closes the pipe unread; that failure is reported, not EPIPE.
      pipe?.on('error', () => {});
      pipe?.end(data);
    }
    child.stdout?.on('data', (c: Buffer) => spec.onOutput?.('stdout', c));
    child.stderr?.on('data', (c: Buffer) => spec.onOutput?.('stderr', c));
    (child.stdio[3] as NodeJS.ReadableStream | null)?.on('data', (c: Buffer) => {
      setupLog += c.toString();
    });
    child.on('error', (err) => {
      stopWatching();
      reject(new BuildError('RUN_SPAWN', `cannot run ${UNSHARE}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      stopWatching();
      if (aborted) {
        reject(new BuildError('RUN_CANCELED', 'RUN step canceled', { cause: spec.signal?.reason }));
        return;
      }
      if (!setupLog.includes(SETUP_DONE)) {
        reject(
          new BuildError('RUN_SANDBOX_SETUP', `cannot set up the RUN sandbox: ${setupLog.trim()}`, {
            hint: 'kiln must run inside its user namespace (or as root) to mount the step root',
          }),
        );
        return;
      }
      if (signal !== null) resolve({ exitCode: 128 + (os.constants.signals[signal] ?? 1), signal });
      else resolve({ exitCode: code ?? 1 });
    });
  });
}
