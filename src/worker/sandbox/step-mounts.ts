/**
 * The extra mounts of a RUN step (`RUN --mount`), turned into the sh lines the step script runs
 * once the root is mounted. Every target is resolved inside the step's root (or inside the mount
 * it is nested in) before any host path is built from it, so a symlink in an image can never
 * send a mount outside the root. Missing targets are made in stub layers that the step's layer
 * never sees, as the standard mountpoints are.
 */

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../errors.js';
import type { XattrPrefix } from '../snapshot/entry-from-stat.js';
import { LayerStack, pathComponents } from '../snapshot/layer-stack.js';
import { checkOverlayPath } from '../snapshot/mount-merged.js';
import { createMountTargets, type MountTarget } from './mountpoints.js';
import { shellQuote } from './step-script.js';

export type StepMount =
  /** Snapshot dirs (bottom first) shown through an overlay; `source` is a path inside them. */
  | { kind: 'layers'; target: string; lowerDirs: string[]; source: string; readOnly: boolean }
  /** A host directory bound read-write (a cache mount). */
  | { kind: 'dir'; target: string; hostPath: string }
  | { kind: 'tmpfs'; target: string; size?: number }
  /** A file made on a private tmpfs from `data`; the data never touches a disk. */
  | { kind: 'secret'; target: string; data: Buffer; mode: number; uid: number; gid: number }
  /** A unix socket bound onto the target (the SSH agent proxy). */
  | { kind: 'socket'; target: string; hostPath: string };

export interface SecretEnv {
  name: string;
  data: Buffer;
}

export interface PlannedMounts {
  /** sh lines, run after the root and the standard filesystems are mounted. */
  lines: string[];
  /** Data the step process must be fed on fds 6, 7, ... in this order. */
  fdData: Buffer[];
  /** Words for the command's `env -i` list, as sh expands them (secret variables). */
  envWords: string[];
  /** Layer paths of targets created in the root's stub layer. */
  created: string[];
}

/** The first fd carrying secret data (3 is the setup channel, 4 and 5 hold stdout/stderr). */
export const FIRST_DATA_FD = 6;
const MAX_MOUNT_OPTIONS = 4000;
const MOUNT = '/usr/bin/mount';

interface Placed {
  mount: StepMount;
  /** Resolved target inside the root. */
  target: string;
  /** Where it is mounted in the host's view of the step namespace. */
  hostTarget: string;
  /** What is visible at the target, for mounts nested below it. */
  content?: { stack: LayerStack; root: string; stubs?: string; hostDir?: string };
}

export interface MountContext {
  rootStack: LayerStack;
  rootStubs: string;
  merged: string;
  scratch: string;
  xattrPrefix: XattrPrefix;
}

export async function planStepMounts(
  mounts: StepMount[],
  secretEnv: SecretEnv[],
  ctx: MountContext,
): Promise<PlannedMounts> {
  const planned: PlannedMounts = { lines: [], fdData: [], envWords: [], created: [] };
  if (mounts.length === 0 && secretEnv.length === 0) return planned;

  const secretsDir = path.join(ctx.scratch, 'secrets');
  const secretFiles = secretLines(mounts, secretEnv, secretsDir, planned);

  // Parents before children, so a mount nested in another one lands inside it.
  const ordered = [...mounts].sort(
    (a, b) => pathComponents(a.target).length - pathComponents(b.target).length,
  );
  const placed: Placed[] = [];
  const rootTargets: MountTarget[] = [];
  for (const [i, mount] of ordered.entries()) {
    const kind = await sourceKind(mount, ctx.xattrPrefix);
    const where = await place(mount, kind, placed, ctx, rootTargets, planned);
    const q = shellQuote(where.hostTarget);
    switch (mount.kind) {
      case 'layers':
        where.content = await overlayLines(mount, i, where, ctx, planned);
        break;
      case 'dir':
        planned.lines.push(`${MOUNT} --bind ${shellQuote(mount.hostPath)} ${q}`);
        where.content = {
          stack: LayerStack.fromLowerDirs([mount.hostPath], ctx.xattrPrefix),
          root: '/',
          hostDir: mount.hostPath,
        };
        break;
      case 'tmpfs': {
        const size = mount.size === undefined ? '' : `,size=${mount.size}`;
        planned.lines.push(`${MOUNT} -t tmpfs -o nosuid,nodev${size} tmpfs ${q}`);
        break;
      }
      case 'secret':
        planned.lines.push(`${MOUNT} --bind ${shellQuote(secretFiles.get(mount) ?? '')} ${q}`);
        break;
      case 'socket':
        planned.lines.push(`${MOUNT} --bind ${shellQuote(mount.hostPath)} ${q}`);
        break;
    }
    placed.push(where);
  }
  planned.created.push(...(await createMountTargets(ctx.rootStack, ctx.rootStubs, rootTargets)));
  return planned;
}

/** Secret files and variables go on one private tmpfs, filled from fds and then made read-only. */
function secretLines(
  mounts: StepMount[],
  secretEnv: SecretEnv[],
  dir: string,
  planned: PlannedMounts,
): Map<StepMount, string> {
  const files = mounts.filter((m) => m.kind === 'secret');
  const names = new Map<StepMount, string>();
  if (files.length === 0 && secretEnv.length === 0) return names;
  const d = shellQuote(dir);
  const total = [...files.map((f) => f.data), ...secretEnv.map((e) => e.data)].reduce(
    (n, b) => n + b.length + 4096,
    65536,
  );
  const flags = 'nosuid,nodev,noexec';
  planned.lines.push(
    `/usr/bin/mkdir -p ${d}`,
    `${MOUNT} -t tmpfs -o ${flags},mode=0700,size=${total} tmpfs ${d}`,
  );
  for (const [i, f] of files.entries()) {
    const fd = FIRST_DATA_FD + planned.fdData.length;
    names.set(f, path.join(dir, `f${i}`));
    const file = shellQuote(path.join(dir, `f${i}`));
    planned.fdData.push(f.data);
    planned.lines.push(
      `/usr/bin/cat <&${fd} > ${file}`,
      `exec ${fd}<&-`,
      `/usr/bin/chown ${f.uid}:${f.gid} ${file}`,
      `/usr/bin/chmod ${f.mode.toString(8)} ${file}`,
    );
  }
  for (const [i, e] of secretEnv.entries()) {
    const fd = FIRST_DATA_FD + planned.fdData.length;
    const file = shellQuote(path.join(dir, `e${i}`));
    planned.fdData.push(e.data);
    // The trailing x keeps trailing newlines, which $(...) would strip.
    planned.lines.push(
      `/usr/bin/cat <&${fd} > ${file}`,
      `exec ${fd}<&-`,
      `_kiln_e${i}=$(/usr/bin/cat ${file}; printf x)`,
      `_kiln_e${i}=\${_kiln_e${i}%x}`,
    );
    planned.envWords.push(`"${e.name}=$_kiln_e${i}"`);
  }
  planned.lines.push(`${MOUNT} -o remount,ro,${flags} ${d}`);
  return names;
}

/** Whether the mount shows a directory or a single file at its target. */
async function sourceKind(mount: StepMount, prefix: XattrPrefix): Promise<'dir' | 'file'> {
  if (mount.kind === 'secret' || mount.kind === 'socket') return 'file';
  if (mount.kind !== 'layers') return 'dir';
  const stack = LayerStack.fromLowerDirs(mount.lowerDirs, prefix);
  const hit = await stack.stat(mount.source).catch(() => undefined);
  if (mount.lowerDirs.length > 0 && hit === undefined) {
    throw new BuildError('RUN_MOUNT_SOURCE', `RUN --mount: source ${mount.source} not found`);
  }
  return hit === undefined || hit.stat.isDirectory() ? 'dir' : 'file';
}

/** Resolves the target (in the root, or in the mount it is nested in) and makes it exist. */
async function place(
  mount: StepMount,
  kind: 'dir' | 'file',
  placed: Placed[],
  ctx: MountContext,
  rootTargets: MountTarget[],
  planned: PlannedMounts,
): Promise<Placed> {
  const target = await ctx.rootStack.resolve(mount.target);
  const parent = [...placed]
    .reverse()
    .find((p) => target === p.target || target.startsWith(`${p.target}/`));
  if (parent === undefined) {
    const hit = await ctx.rootStack.lstat(target);
    checkKind(mount.target, hit?.stat.isDirectory(), kind);
    if (hit === undefined) rootTargets.push({ path: target, kind });
    return { mount, target, hostTarget: path.join(ctx.merged, target) };
  }

  if (
    target === parent.target ||
    parent.mount.kind === 'secret' ||
    parent.mount.kind === 'socket'
  ) {
    throw new BuildError('RUN_MOUNT_TARGET', `RUN --mount: ${mount.target} is already a mount`);
  }
  const rel = target.slice(parent.target.length + 1);
  const content = parent.content;
  if (content === undefined) {
    // A fresh tmpfs holds nothing but what kiln makes in it, so plain mkdir is safe there.
    const host = shellQuote(path.join(parent.hostTarget, rel));
    planned.lines.push(
      kind === 'dir'
        ? `/usr/bin/mkdir -p ${host}`
        : `/usr/bin/mkdir -p "$(/usr/bin/dirname ${host})"; : > ${host}`,
    );
    return { mount, target, hostTarget: path.join(parent.hostTarget, rel) };
  }

  const inside = await content.stack.resolve(path.posix.join(content.root, rel));
  if (inside !== content.root && !inside.startsWith(`${content.root.replace(/\/$/, '')}/`)) {
    throw new BuildError(
      'RUN_MOUNT_TARGET',
      `RUN --mount: ${mount.target} leaves the mount it is nested in`,
    );
  }
  const hit = await content.stack.lstat(inside);
  checkKind(mount.target, hit?.stat.isDirectory(), kind);
  if (hit === undefined) {
    const layerDir = content.hostDir ?? content.stubs;
    if (layerDir === undefined) throw new Error('nested mount target without a layer to make it');
    await createMountTargets(
      content.stack,
      layerDir,
      [{ path: inside, kind }],
      content.hostDir ? 0 : undefined,
    );
  }
  const hostRoot = parent.hostTarget;
  const relInside = path.posix.relative(content.root, inside);
  return { mount, target, hostTarget: path.join(hostRoot, relInside) };
}

function checkKind(target: string, isDir: boolean | undefined, kind: 'dir' | 'file'): void {
  if (isDir === undefined) return;
  if (isDir !== (kind === 'dir')) {
    throw new BuildError(
      'RUN_MOUNT_TARGET',
      `RUN --mount: ${target} is ${isDir ? 'a directory' : 'not a directory'} in the image ` +
        `but the mount is ${kind === 'dir' ? 'a directory' : 'a file'}`,
    );
  }
}

/** Mounts the layers at a scratch dir (with an upper there when writable) and binds the source. */
async function overlayLines(
  mount: Extract<StepMount, { kind: 'layers' }>,
  index: number,
  where: Placed,
  ctx: MountContext,
  planned: PlannedMounts,
): Promise<NonNullable<Placed['content']>> {
  const dir = path.join(ctx.scratch, `mount${index}`);
  const stubs = path.join(dir, 'stubs');
  const root = path.join(dir, 'root');
  await Promise.all([mkdir(stubs, { recursive: true }), mkdir(root, { recursive: true })]);

  const lowers = [stubs, ...[...mount.lowerDirs].reverse()];
  if (lowers.length === 1) {
    const empty = path.join(dir, 'empty');
    await mkdir(empty);
    lowers.push(empty);
  }
  const opts = [`lowerdir=${lowers.join(':')}`];
  if (!mount.readOnly) {
    const upper = path.join(dir, 'upper');
    const work = path.join(dir, 'work');
    await Promise.all([mkdir(upper), mkdir(work)]);
    opts.push(`upperdir=${upper}`, `workdir=${work}`);
  }
  if (ctx.xattrPrefix === 'user') opts.push('userxattr');
  for (const d of [...lowers, dir]) checkOverlayPath(d);
  const text = opts.join(',');
  if (text.length > MAX_MOUNT_OPTIONS) {
    throw new BuildError('RUN_TOO_MANY_LAYERS', 'a RUN --mount source has too many layers');
  }

  const stack = LayerStack.fromLowerDirs([...mount.lowerDirs, stubs], ctx.xattrPrefix);
  const source = await stack.resolve(mount.source);
  planned.lines.push(
    `${MOUNT} -t overlay overlay -o ${shellQuote(text)} ${shellQuote(root)}`,
    `${MOUNT} --bind ${shellQuote(path.join(root, source))} ${shellQuote(where.hostTarget)}`,
  );
  return { stack, root: source, stubs };
}
