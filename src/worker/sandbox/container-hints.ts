/**
 * Whether this process runs inside a container, for the guard of isolation 'none' (which runs RUN
 * steps on this machine's filesystem with only a chroot between them and kiln). The signs are
 * the ones runtimes leave: Docker's /.dockerenv, Podman's /run/.containerenv, the `container`
 * variable systemd-nspawn, LXC and Podman set, a Kubernetes service variable, and cgroup or
 * mount table entries naming a container runtime. None is proof; a false "no" only means the
 * caller must confirm with KILN_ALLOW_ISOLATION_NONE=1.
 */

import { access, readFile } from 'node:fs/promises';
import path from 'node:path';

const MARKER_FILES = ['/.dockerenv', '/run/.containerenv'];
const RUNTIME_WORDS = /\b(docker|containerd|kubepods|libpod|crio|lxc|runc|buildkit)\b/;

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function readOrEmpty(p: string): Promise<string> {
  return readFile(p, 'utf8').catch(() => '');
}

export interface ContainerHintOptions {
  /** Where the files above are looked up (tests use a fake tree); default '/'. */
  root?: string;
  env?: NodeJS.ProcessEnv;
}

/** Why this looks like a container (a short phrase for messages), or undefined. */
export async function containerHint(opts: ContainerHintOptions = {}): Promise<string | undefined> {
  const root = opts.root ?? '/';
  const env = opts.env ?? process.env;
  const at = (p: string) => path.join(root, p);
  for (const file of MARKER_FILES) if (await exists(at(file))) return `${file} exists`;
  if (env.container) return `container=${env.container} is set`;
  if (env.KUBERNETES_SERVICE_HOST) return 'KUBERNETES_SERVICE_HOST is set';

  const cgroup = await readOrEmpty(at('/proc/self/cgroup'));
  const word = RUNTIME_WORDS.exec(cgroup)?.[1];
  if (word !== undefined) return `/proc/self/cgroup names ${word}`;

  // The root mount of a container is its runtime's overlay or bind mount, never the host disk.
  const rootLine = (await readOrEmpty(at('/proc/self/mountinfo')))
    .split('\n')
    .find((l) => l.split(' ')[4] === '/');
  const rootWord = rootLine === undefined ? undefined : RUNTIME_WORDS.exec(rootLine)?.[1];
  if (rootWord !== undefined) return `the root mount names ${rootWord}`;
  return undefined;
}
