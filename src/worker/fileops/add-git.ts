/**
 * ADD of a git repository with the `git` binary: the ref is resolved to a commit with
 * `git ls-remote` (the commit is what the step's cache key depends on), then that one commit is
 * fetched (depth 1 when the server allows it) into kiln's scratch space and checked out, with
 * its submodules. `.git` goes unless --keep-git-dir; `#ref:subdir` keeps only that directory.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../errors.js';
import { redactUrl } from './add-source.js';

export interface GitSpec {
  remote: string;
  /** Branch, tag, full ref or commit; empty for the remote's HEAD. */
  ref: string;
  subdir: string;
  keepGitDir: boolean;
}

const FULL_COMMIT = /^[0-9a-f]{40}$/;
const ABBREVIATED_COMMIT = /^[0-9a-f]{7,40}$/;

interface GitResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

function runGit(args: string[], signal?: AbortSignal, cwd?: string): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // Never wait for a password on a terminal nobody watches.
        GIT_TERMINAL_PROMPT: '0',
        // A repository (or its .gitmodules) must not reach file:// or ext:: transports, which
        // read the build host or run commands on it.
        GIT_ALLOW_PROTOCOL: 'git:http:https:ssh',
        GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
      },
      ...(signal ? { signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t;
    });
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      if (stderr.length < 8192) stderr += t;
    });
    child.on('error', (err) =>
      reject(
        new BuildError('ADD_GIT_FAILED', `cannot run git: ${err.message}`, {
          cause: err,
          hint: 'ADD of a git repository needs git on PATH (Debian: apt-get install git)',
        }),
      ),
    );
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

async function git(spec: GitSpec, args: string[], signal?: AbortSignal, cwd?: string) {
  const result = await runGit(args, signal, cwd);
  if (result.code !== 0) {
    throw new BuildError(
      'ADD_GIT_FAILED',
      `git ${args[0]} of ${redactUrl(spec.remote)} failed: ${scrub(result.stderr, spec.remote)}`,
    );
  }
  return result.stdout;
}

/** git's messages may quote the remote with its credentials: those never reach an error. */
function scrub(stderr: string, remote: string): string {
  const redacted = redactUrl(remote);
  const text = redacted === remote ? stderr : stderr.replaceAll(remote, redacted);
  return text.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1').trim();
}

/**
 * The commit `ref` names on the remote: HEAD for none, else a full ref, a branch, a tag (peeled
 * to its commit) or a commit id. An abbreviated commit id the remote does not advertise as a
 * ref comes back as written; it is resolved when fetched.
 */
export async function resolveGitCommit(spec: GitSpec, signal?: AbortSignal): Promise<string> {
  const out = await git(spec, ['ls-remote', '--', spec.remote], signal);
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [commit, name] = line.split('\t');
    if (commit && name) refs.set(name, commit);
  }
  const ref = spec.ref === '' ? 'HEAD' : spec.ref;
  const candidates = ref.startsWith('refs/')
    ? [ref]
    : [ref, `refs/heads/${ref}`, `refs/tags/${ref}`];
  for (const name of candidates) {
    const commit = refs.get(`${name}^{}`) ?? refs.get(name);
    if (commit !== undefined) return commit;
  }
  if (ABBREVIATED_COMMIT.test(ref)) return ref;
  throw new BuildError(
    'ADD_GIT_REF_NOT_FOUND',
    `${redactUrl(spec.remote)} has no branch, tag or commit named ${JSON.stringify(ref)}`,
  );
}

/**
 * Checks out `commit` of the repository into a new directory under `scratchDir` and returns
 * the directory whose contents ADD copies (the subdir, when one was asked for).
 */
export async function cloneGitCommit(
  spec: GitSpec,
  commit: string,
  scratchDir: string,
  signal?: AbortSignal,
): Promise<string> {
  const dir = await mkdtemp(path.join(scratchDir, 'git-'));
  const work = path.join(dir, 'checkout');
  try {
    await git(spec, ['init', '-q', work], signal);
    await git(spec, ['remote', 'add', 'origin', spec.remote], signal, work);
    await fetchCommit(spec, commit, work, signal);
    await git(spec, ['-c', 'advice.detachedHead=false', 'checkout', '-q', commit], signal, work);
    const head = (await git(spec, ['rev-parse', 'HEAD'], signal, work)).trim();
    if (FULL_COMMIT.test(commit) && head !== commit) {
      throw new BuildError(
        'ADD_GIT_FAILED',
        `${redactUrl(spec.remote)}: checked out ${head}, expected ${commit}`,
      );
    }
    if (await exists(path.join(work, '.gitmodules'))) {
      await git(
        spec,
        ['submodule', 'update', '--init', '--recursive', '--depth', '1'],
        signal,
        work,
      );
    }
    if (!spec.keepGitDir) await rm(path.join(work, '.git'), { recursive: true, force: true });
    return spec.subdir === '' ? work : await subdirOf(spec, work, dir);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The commit the checkout in `dir` holds (for an abbreviated id, after the fetch). */
async function fetchCommit(
  spec: GitSpec,
  commit: string,
  work: string,
  signal?: AbortSignal,
): Promise<void> {
  // Protocol v2 servers (git 2.26+) serve any commit by id; older ones only advertised refs.
  const byId = FULL_COMMIT.test(commit)
    ? await runGit(['fetch', '-q', '--depth', '1', '--no-tags', 'origin', commit], signal, work)
    : undefined;
  if (byId?.code === 0) return;
  await git(
    spec,
    ['fetch', '-q', '--tags', 'origin', '+refs/heads/*:refs/remotes/origin/*'],
    signal,
    work,
  );
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The subdir, moved out of the checkout; it may not lead outside the repository. */
async function subdirOf(spec: GitSpec, work: string, dir: string): Promise<string> {
  const root = await realpath(work);
  const wanted = path.resolve(root, spec.subdir.replace(/^\/+/, ''));
  const resolved = await realpath(wanted).catch(() => undefined);
  const inside = resolved !== undefined && (resolved === root || resolved.startsWith(`${root}/`));
  const st = resolved === undefined ? undefined : await stat(resolved);
  if (!inside || st?.isDirectory() !== true) {
    throw new BuildError(
      'ADD_GIT_SUBDIR',
      `${JSON.stringify(spec.subdir)} is not a directory of ${redactUrl(spec.remote)}`,
    );
  }
  const target = path.join(dir, 'subdir');
  await rename(resolved!, target);
  return target;
}
