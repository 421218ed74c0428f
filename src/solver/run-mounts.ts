import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../errors.js';
import type { CopySource, RunMount, RunOp } from '../graph/plan.js';
import type { CacheMountStore } from '../worker/mounts/cache-mount-store.js';
import { copyContextSource } from '../worker/mounts/context-copy.js';
import { type AgentProxy, startAgentProxy } from '../worker/mounts/ssh-agent-proxy.js';
import type { SecretEnv, StepMount } from '../worker/sandbox/step-mounts.js';
import { activeIsolation } from '../worker/sandbox/userns.js';
import type { XattrPrefix } from '../worker/snapshot/entry-from-stat.js';
import { LayerStack } from '../worker/snapshot/layer-stack.js';
import { mountMerged, unmount } from '../worker/snapshot/mount-merged.js';
import type { SecretSpec, SshSpec } from './build-request.js';

export type LayerSource = Exclude<CopySource, { kind: 'context' }>;

/** What RUN --mount needs from the build beyond the step itself. */
export interface RunMountEnv {
  contextDir: string;
  ignore: (relPath: string) => boolean;
  cacheMounts: CacheMountStore;
  secrets: SecretSpec[];
  ssh: SshSpec[];
  /** Snapshot dirs (bottom first) of a stage's or an image's filesystem, extracted. */
  layerDirs(from: LayerSource): Promise<string[]>;
  /** The content digest of context paths, as COPY's (through the build's stat cache). */
  hashContext(sources: string[]): Promise<string>;
  /** What identifies a stage's or an image's content: the stage's key, the image's digest. */
  contentKey(from: LayerSource): Promise<string>;
  xattrPrefix: XattrPrefix;
}

export interface PreparedMounts {
  mounts: StepMount[];
  secretEnv: SecretEnv[];
  /** Variables the mounts add to the step's environment (SSH_AUTH_SOCK). */
  env: string[];
  release(): Promise<void>;
}

/**
 * What a RUN's mounts add to its cache key: the content of bind sources and cache seeds. Cache
 * directories, tmpfs, secrets and agent sockets add nothing, as in BuildKit. Undefined without
 * such mounts, so keys of steps without mounts do not change.
 */
export async function runMountDigest(
  op: RunOp,
  env: Pick<RunMountEnv, 'hashContext' | 'contentKey'>,
): Promise<unknown> {
  const inputs: unknown[] = [];
  for (const m of op.mounts ?? []) {
    const from = m.type === 'bind' ? m.from : m.type === 'cache' ? m.from : undefined;
    if (from === undefined) continue;
    const source = (m as { source: string }).source || '.';
    inputs.push(
      from.kind === 'context'
        ? { target: m.target, context: await env.hashContext([source]) }
        : { target: m.target, content: await env.contentKey(from) },
    );
  }
  return inputs.length === 0 ? undefined : { mounts: inputs };
}

/** Resolves every mount of the step into what the sandbox mounts; release() after the step. */
export async function prepareRunMounts(
  op: RunOp,
  env: RunMountEnv,
  scratchDir: string,
  signal: AbortSignal,
): Promise<PreparedMounts> {
  const dir = await mkdtemp(path.join(scratchDir, 'mounts-'));
  const releases: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const prepared: PreparedMounts = {
    mounts: [],
    secretEnv: [],
    env: [],
    release: async () => {
      for (const r of releases.reverse()) await r().catch(() => undefined);
    },
  };
  try {
    for (const [i, m] of (op.mounts ?? []).entries()) {
      signal.throwIfAborted();
      await prepareOne(m, i, env, dir, signal, prepared, releases);
    }
  } catch (err) {
    await prepared.release();
    throw err;
  }
  return prepared;
}

async function prepareOne(
  m: RunMount,
  index: number,
  env: RunMountEnv,
  dir: string,
  signal: AbortSignal,
  out: PreparedMounts,
  releases: (() => Promise<void>)[],
): Promise<void> {
  switch (m.type) {
    case 'bind': {
      if (m.from.kind === 'context') {
        const copy = path.join(dir, `context${index}`);
        const rel = await copyContextSource(env.contextDir, m.source, env.ignore, copy);
        out.mounts.push(layers(m.target, [copy], rel, m.readOnly));
      } else {
        out.mounts.push(layers(m.target, await env.layerDirs(m.from), m.source, m.readOnly));
      }
      return;
    }
    case 'cache': {
      // Without mounts the directory is moved into the step's root (unshared-mounts.ts): only
      // one step can have it at a time.
      const sharing = activeIsolation() === 'none' ? 'locked' : m.sharing;
      const lease = await env.cacheMounts.acquire({ ...m, sharing, signal });
      releases.push(() => lease.release());
      if (lease.created && m.from !== undefined) await seedCache(m.from, m.source, lease.dir, env);
      out.mounts.push(
        m.readOnly
          ? layers(m.target, [lease.dir], '', true)
          : { kind: 'dir', target: m.target, hostPath: lease.dir },
      );
      return;
    }
    case 'tmpfs':
      out.mounts.push({
        kind: 'tmpfs',
        target: m.target,
        ...(m.size === undefined ? {} : { size: m.size }),
      });
      return;
    case 'secret': {
      const data = await readSecret(m.id, env.secrets, m.required);
      if (data === undefined) return;
      if (m.target !== undefined) {
        out.mounts.push({ kind: 'secret', target: m.target, data, ...ids(m) });
      }
      if (m.env !== undefined) out.secretEnv.push({ name: m.env, data });
      return;
    }
    case 'ssh': {
      // BuildKit points SSH_AUTH_SOCK at the first ssh mount as written, given or not.
      if (!out.env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) {
        out.env.push(`SSH_AUTH_SOCK=${m.target}`);
      }
      const spec = env.ssh.find((s) => s.id === m.id);
      if (spec === undefined) {
        if (!m.required) return;
        throw new BuildError('SSH_MISSING', `RUN --mount=type=ssh: no SSH agent with id ${m.id}`, {
          hint: `pass --ssh ${m.id}=$SSH_AUTH_SOCK (or --ssh ${m.id} to use SSH_AUTH_SOCK)`,
        });
      }
      const proxy = await startProxy(spec.socket, dir, index, m);
      releases.push(() => proxy.close());
      out.mounts.push({ kind: 'socket', target: m.target, hostPath: proxy.socketPath });
      return;
    }
  }
}

function layers(target: string, lowerDirs: string[], source: string, readOnly: boolean): StepMount {
  return { kind: 'layers', target, lowerDirs, source: `/${source}`, readOnly };
}

function ids(m: { mode: number; uid: number; gid: number }) {
  return { mode: m.mode, uid: m.uid, gid: m.gid };
}

/** The value of a --secret; undefined when it was not given and the mount does not require it. */
async function readSecret(
  id: string,
  secrets: SecretSpec[],
  required: boolean,
): Promise<Buffer | undefined> {
  const spec = secrets.find((s) => s.id === id);
  let data: Buffer | undefined;
  if (spec?.source.kind === 'file') {
    data = await readFile(spec.source.path).catch((err: NodeJS.ErrnoException) => {
      throw new BuildError('SECRET_UNREADABLE', `secret ${id}: cannot read its file (${err.code})`);
    });
  } else if (spec?.source.kind === 'env') {
    const value = process.env[spec.source.name];
    data = value === undefined ? undefined : Buffer.from(value);
  }
  if (data === undefined && required) {
    throw new BuildError('SECRET_MISSING', `secret ${id} is required but was not given`, {
      hint: `pass --secret id=${id},src=FILE or --secret id=${id},env=VARIABLE`,
    });
  }
  return data;
}

/** unix socket paths are limited to 108 bytes; a deep cache dir gets a short private dir. */
const MAX_SOCKET_PATH = 100;

async function startProxy(
  agentSocket: string,
  dir: string,
  index: number,
  m: { mode: number; uid: number; gid: number },
): Promise<AgentProxy> {
  let socketPath = path.join(dir, `ssh${index}.sock`);
  let extra: string | undefined;
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    extra = await mkdtemp(path.join(os.tmpdir(), 'kiln-ssh-'));
    socketPath = path.join(extra, 'agent.sock');
  }
  const proxy = await startAgentProxy({ agentSocket, socketPath, ...ids(m) });
  if (extra === undefined) return proxy;
  const shortDir = extra;
  return {
    socketPath,
    close: async () => {
      await proxy.close();
      await rm(shortDir, { recursive: true, force: true });
    },
  };
}

/** Fills a new cache directory with what `from` has at `source` (BuildKit's cache seed). */
async function seedCache(
  from: CopySource,
  source: string,
  dest: string,
  env: RunMountEnv,
): Promise<void> {
  const temp = await mkdtemp(path.join(path.dirname(dest), '.seed-'));
  try {
    if (from.kind === 'context') {
      const rel = await copyContextSource(env.contextDir, source, env.ignore, temp);
      await cp(path.join(temp, rel), dest, { recursive: true, verbatimSymlinks: true });
      return;
    }
    const dirs = await env.layerDirs(from);
    if (dirs.length === 0) return;
    // Resolved through the layers first: a symlink in them must not lead the copy to host paths.
    const inside = await LayerStack.fromLowerDirs(dirs, env.xattrPrefix).resolve(source || '/');
    const merged = path.join(temp, 'root');
    await mkdir(merged);
    await mountMerged(dirs, merged, env.xattrPrefix);
    try {
      const src = path.join(merged, inside);
      await cp(src, dest, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    } finally {
      await unmount(merged);
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
