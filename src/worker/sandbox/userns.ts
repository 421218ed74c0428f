/**
 * Builds run inside namespaces: kiln re-executes itself under `unshare` so that the whole build
 * process is uid 0 of a user namespace (with the subuid range mapped, or an identity map when the
 * caller is real root) and owns a private mount namespace. A Node process cannot call unshare(2)
 * itself (it is multithreaded), hence the helper process. Inside, kiln can mount overlays and chown
 * to any mapped id; a file's on-disk owner as seen there is its owner in the image.
 */

import { spawn } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { BuildError, InputError } from '../../errors.js';
import { childTlsEnv } from '../../net/extra-ca.js';
import type { XattrPrefix } from '../snapshot/entry-from-stat.js';
import { containerHint } from './container-hints.js';
import { freeSubidStart, readSubidRanges, SUGGESTED_RANGE } from './subid-ranges.js';

export type Isolation = 'auto' | 'userns' | 'chroot' | 'none';
export type ActiveIsolation = 'userns' | 'chroot' | 'none';

/** Set in the re-executed process; its value is the isolation in force. */
export const SANDBOX_ENV = 'KILN_SANDBOX';

/**
 * The pid of the kiln process that started the namespaced child. The child stops when its parent
 * is no longer that process: the parent may be killed before the child has even started, and
 * then the child's first parent pid is already the reaper's.
 */
export const PARENT_PID_ENV = 'KILN_PARENT_PID';

/** The pid the namespaced child should have as its parent, or undefined outside the child. */
export function expectedParentPid(): number | undefined {
  const pid = Number(process.env[PARENT_PID_ENV]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
/** Must be '1' for --isolation none: a promise that kiln runs in a throwaway container. */
export const ALLOW_NONE_ENV = 'KILN_ALLOW_ISOLATION_NONE';

export const UNSHARE = '/usr/bin/unshare';
const NEWUIDMAP = '/usr/bin/newuidmap';
const NEWGIDMAP = '/usr/bin/newgidmap';
const MIN_SUBIDS = 65536;
/** The identity map for real root: every id, so chown to anything works as on the host. */
const IDENTITY_MAP = '0 0 4294967295\n';

export function activeIsolation(): ActiveIsolation | undefined {
  const v = process.env[SANDBOX_ENV];
  return v === 'userns' || v === 'chroot' || v === 'none' ? v : undefined;
}

/**
 * Overlay keeps its whiteout/opaque bookkeeping in user.* xattrs inside a user namespace. With
 * isolation 'none' nothing is mounted, but the snapshots keep the same format, and trusted.*
 * would need CAP_SYS_ADMIN.
 */
export function xattrPrefixFor(isolation: ActiveIsolation): XattrPrefix {
  return isolation === 'chroot' ? 'trusted' : 'user';
}

function probe(args: string[]): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(UNSHARE, [...args, '--', '/bin/true'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', (err) => resolve({ ok: false, stderr: err.message }));
    child.on('close', (code) => resolve({ ok: code === 0, stderr: stderr.trim() }));
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** Explains why a rootless user namespace with a full id range cannot be made. */
async function rootlessProblem(): Promise<BuildError | undefined> {
  const { username } = os.userInfo();
  const uid = process.getuid?.() ?? -1;
  const texts = await Promise.all(
    ['/etc/subuid', '/etc/subgid'].map((f) => readFile(f, 'utf8').catch(() => '')),
  );
  const start = freeSubidStart(texts);
  const range = `${start}-${start + SUGGESTED_RANGE - 1}`;
  const fix = `usermod --add-subuids ${range} --add-subgids ${range} ${username}`;

  if (!(await exists(NEWUIDMAP)) || !(await exists(NEWGIDMAP))) {
    return new BuildError('SANDBOX_NO_NEWUIDMAP', `${NEWUIDMAP} and ${NEWGIDMAP} are needed`, {
      hint: 'install the uidmap package (Debian/Ubuntu) or shadow-utils (Fedora)',
    });
  }
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const first = (await readSubidRanges(file, username, uid))[0];
    if (first === undefined) {
      return new BuildError('SANDBOX_NO_SUBIDS', `${file} has no range for user ${username}`, {
        hint: `as root: ${fix}`,
      });
    }
    if (first.count < MIN_SUBIDS) {
      return new BuildError(
        'SANDBOX_SMALL_SUBIDS',
        `${file} gives ${username} ${first.count} ids; images need ${MIN_SUBIDS} (0-65535)`,
        { hint: `as root: ${fix}` },
      );
    }
  }
  return undefined;
}

/**
 * Picks the isolation for `auto`: a user namespace when one can be made, else (real root only)
 * chroot inside a mount namespace. Never 'none'.
 */
export async function detectIsolation(): Promise<'userns' | 'chroot'> {
  const inside = activeIsolation();
  if (inside === 'userns' || inside === 'chroot') return inside;
  const root = process.getuid?.() === 0;

  if (root) {
    if ((await probe(['--user', '--mount'])).ok) return 'userns';
    if ((await probe(['--mount'])).ok) return 'chroot';
    throw new BuildError('SANDBOX_UNAVAILABLE', 'cannot create a mount namespace even as root', {
      hint:
        'kiln needs CAP_SYS_ADMIN or user namespaces; in a container, allow unshare (seccomp), ' +
        'or use --isolation none (chroot only, no mounts)',
    });
  }

  const problem = await rootlessProblem();
  if (problem !== undefined) throw problem;
  const full = await probe(['--user', '--map-root-user', '--map-auto', '--mount']);
  if (full.ok) return 'userns';
  const plain = await probe(['--user', '--map-root-user']);
  throw new BuildError(
    'SANDBOX_NO_USERNS',
    plain.ok
      ? `cannot map the subordinate id range: ${full.stderr}`
      : `cannot create a user namespace: ${plain.stderr}`,
    {
      hint: plain.ok
        ? 'check /etc/subuid, /etc/subgid and that newuidmap/newgidmap are setuid root'
        : 'enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, ' +
          'user.max_user_namespaces > 0, or the AppArmor userns restriction)',
    },
  );
}

/**
 * Checks the guard for --isolation none: allowed inside what looks like a container, or when the
 * caller confirms it is one.
 */
export async function checkIsolationNone(
  env: NodeJS.ProcessEnv = process.env,
  hint: () => Promise<string | undefined> = () => containerHint({ env }),
): Promise<void> {
  if (env[ALLOW_NONE_ENV] === '1') return;
  if ((await hint()) !== undefined) return;
  throw new InputError(
    'SANDBOX_NONE_REFUSED',
    '--isolation none runs RUN steps on this machine, and this does not look like a container',
    { hint: `only in a throwaway container: set ${ALLOW_NONE_ENV}=1 to confirm` },
  );
}

export interface ReexecOptions {
  isolation: Isolation;
  /**
   * With 'auto': when neither a user nor a mount namespace can be made and kiln runs inside a
   * container, fall back to 'none' (kaniko's model) instead of failing. `kiln executor` asks
   * for this; `kiln build` does not, as its contract says auto never means none.
   */
  containerFallback?: boolean;
  onFallback?: (message: string) => void;
  /** Arguments after the node binary; defaults to this process's (execArgv, script and args). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Re-runs kiln inside the namespaces the isolation needs and resolves with the child's exit code,
 * which the caller exits with. Resolves undefined when this process should go on itself: it is
 * already inside, or the isolation is 'none'.
 */
export async function reexecInUserNamespace(opts: ReexecOptions): Promise<number | undefined> {
  if (activeIsolation() !== undefined) return undefined;
  if (opts.isolation === 'none') {
    await checkIsolationNone(opts.env ?? process.env);
    // Tells the rest of this process (snapshot format, RUN, mounts) that nothing can be mounted.
    process.env[SANDBOX_ENV] = 'none';
    return undefined;
  }
  let isolation: 'userns' | 'chroot';
  try {
    isolation = opts.isolation === 'auto' ? await detectIsolation() : opts.isolation;
  } catch (err) {
    // kaniko's own model: in a container that allows no namespaces, build without them.
    const hint = opts.containerFallback
      ? await containerHint({ env: opts.env ?? process.env })
      : undefined;
    if (!hint || !(err instanceof BuildError)) throw err;
    opts.onFallback?.(
      `no namespaces can be made here (${err.message}); building inside this container without them (${hint}), as kaniko does`,
    );
    process.env[SANDBOX_ENV] = 'none';
    return undefined;
  }
  if (opts.isolation === 'userns' || opts.isolation === 'chroot') await checkRequested(isolation);

  const args = opts.args ?? [...process.execArgv, ...process.argv.slice(1)];
  const env = {
    ...childTlsEnv(opts.env ?? process.env),
    [SANDBOX_ENV]: isolation,
    [PARENT_PID_ENV]: String(process.pid),
  };
  const root = process.getuid?.() === 0;

  if (isolation === 'chroot') {
    return runChild(
      [UNSHARE, '--mount', '--propagation', 'private', '--', process.execPath, ...args],
      env,
    );
  }
  if (!root) {
    const unshare = [UNSHARE, '--user', '--map-root-user', '--map-auto', '--mount'];
    return runChild([...unshare, '--propagation', 'private', '--', process.execPath, ...args], env);
  }
  return runIdentityMapped(args, env);
}

async function checkRequested(isolation: 'userns' | 'chroot'): Promise<void> {
  if (isolation === 'chroot' && process.getuid?.() !== 0) {
    throw new InputError('SANDBOX_CHROOT_NEEDS_ROOT', '--isolation chroot needs real root', {
      hint: 'use --isolation userns (or auto) as an unprivileged user',
    });
  }
  if (isolation === 'userns' && process.getuid?.() !== 0) {
    const problem = await rootlessProblem();
    if (problem !== undefined) throw problem;
  }
}

function forwardSignals(pid: number | undefined): () => void {
  const forward = (sig: NodeJS.Signals) => () => {
    if (pid !== undefined) {
      try {
        process.kill(pid, sig);
      } catch {
        // Already gone.
      }
    }
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const num = signal === null ? undefined : os.constants.signals[signal];
  return 128 + (num ?? 1);
}

function runChild(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: 'inherit', env });
    const stop = forwardSignals(child.pid);
    child.on('error', (err) => {
      stop();
      reject(new BuildError('SANDBOX_SPAWN', `cannot run ${argv[0]}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      stop();
      resolve(exitCodeOf(code, signal));
    });
  });
}

/**
 * Real root: `unshare --map-users` goes through newuidmap, which wants a subuid entry for root,
 * so the maps are written here instead. The helper shell announces itself on fd 3 once it is in
 * the new namespaces and waits there until the maps are in place.
 */
function runIdentityMapped(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // A parent killed before it wrote the maps closes fd 3: stop there instead of running unmapped.
  const gate = 'echo >&3; read -r _ <&3 || exit 1; exec 3<&-; exec "$@"';
  const argv = ['--user', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', gate, 'sh'];

  return new Promise((resolve, reject) => {
    const child = spawn(UNSHARE, [...argv, process.execPath, ...args], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env,
    });
    const stop = forwardSignals(child.pid);
    const control = child.stdio[3] as NodeJS.ReadWriteStream | null;
    let mapped = false;

    control?.once('data', () => {
      const pid = child.pid as number;
      Promise.all([
        writeFile(`/proc/${pid}/uid_map`, IDENTITY_MAP),
        writeFile(`/proc/${pid}/gid_map`, IDENTITY_MAP),
      ]).then(
        () => {
          mapped = true;
          control.write('\n');
          control.end();
        },
        (err: Error) => {
          child.kill('SIGKILL');
          reject(new BuildError('SANDBOX_IDMAP', `cannot write id maps: ${err.message}`));
        },
      );
    });
    child.on('error', (err) => {
      stop();
      reject(new BuildError('SANDBOX_SPAWN', `cannot run ${UNSHARE}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      stop();
      if (!mapped) {
        reject(
          new BuildError('SANDBOX_USERNS', `${UNSHARE} --user failed (exit ${code ?? signal})`),
        );
        return;
      }
      resolve(exitCodeOf(code, signal));
    });
  });
}
