/**
 * Makes sure the paths a RUN step mounts over exist, without letting them into the step's layer:
 * missing mountpoints are created in an extra, read-only lower layer on top of the image, so the
 * upper dir (the layer) never sees them unless the command itself changes them. BuildKit gets the
 * same result by creating stubs and deleting them after the step.
 */

import type { BigIntStats } from 'node:fs';
import { chmod, chown, lutimes, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setAttribute } from 'fs-xattr';
import { BuildError } from '../../errors.js';
import { readXattrs } from '../snapshot/entry-from-stat.js';
import { type LayerStack, pathComponents } from '../snapshot/layer-stack.js';

export type MountpointName = 'proc' | 'dev' | 'sys' | 'hosts' | 'resolvConf';

const MOUNTPOINTS: ReadonlyArray<{ name: MountpointName; path: string; kind: 'dir' | 'file' }> = [
  { name: 'proc', path: 'proc', kind: 'dir' },
  { name: 'dev', path: 'dev', kind: 'dir' },
  { name: 'sys', path: 'sys', kind: 'dir' },
  { name: 'hosts', path: 'etc/hosts', kind: 'file' },
  { name: 'resolvConf', path: 'etc/resolv.conf', kind: 'file' },
];

export interface MountpointPlan {
  /** Which mountpoints can be mounted over. */
  mount: Record<MountpointName, boolean>;
  /** Layer paths of the mountpoints that had to be created (not in the image). */
  created: string[];
}

/** Directories whose metadata is copied from the image once their children exist. */
type Mirror = { dest: string; from: StackStat };
type StackStat = { hostPath: string; stat: BigIntStats };

async function applyMirrors(mirrors: Mirror[], prefix: 'user' | 'trusted'): Promise<void> {
  // Deepest first, so setting a child's times does not disturb its parent's afterwards.
  for (const { dest, from } of [...mirrors].reverse()) {
    const st = from.stat;
    await chown(dest, Number(st.uid), Number(st.gid));
    await chmod(dest, Number(st.mode & 0o7777n));
    for (const [name, value] of Object.entries(readXattrs(from.hostPath, prefix) ?? {})) {
      await setAttribute(dest, name, value).catch(() => undefined);
    }
    // Node's utimes takes seconds as a double: sub-microsecond digits of the mtime are lost.
    const secs = (ns: bigint) => Number(ns) / 1e9;
    await lutimes(dest, secs(st.atimeNs), secs(st.mtimeNs));
  }
}

/**
 * Creates the directories along `parts` under `root`: those the image has are mirrored (mode,
 * owner, xattrs, mtime), those it lacks are 0755 root:root. Returns false when a component exists
 * as something other than a directory (a symlink is not followed: it could point anywhere).
 */
async function makeParents(
  stack: LayerStack,
  root: string,
  parts: string[],
  mirrors: Mirror[],
  skipLayer?: number,
): Promise<boolean> {
  for (let i = 0; i < parts.length; i++) {
    const rel = parts.slice(0, i + 1).join('/');
    const hit = await stack.lstat(`/${rel}`);
    const dest = path.join(root, rel);
    if (hit === undefined) {
      // Two mount targets may share a missing parent.
      if (await mkdirFresh(dest)) await chmod(dest, 0o755);
      continue;
    }
    if (!hit.stat.isDirectory()) return false;
    if (hit.layer === skipLayer) continue;
    await mkdir(dest, { recursive: true });
    mirrors.push({ dest, from: hit });
  }
  return true;
}

async function mkdirFresh(dest: string): Promise<boolean> {
  try {
    await mkdir(dest, { mode: 0o755 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

export interface MountTarget {
  /** Resolved path inside the root (no symlinks along it). */
  path: string;
  kind: 'dir' | 'file';
}

/**
 * Creates the missing `targets` in `layerDir` the same way as the standard mountpoints, with the
 * image's parents mirrored. With `skipLayer`, parents found in that layer of `stack` are taken to
 * be `layerDir` itself and left alone. Returns the layer paths it created.
 */
export async function createMountTargets(
  stack: LayerStack,
  layerDir: string,
  targets: MountTarget[],
  skipLayer?: number,
): Promise<string[]> {
  const created: string[] = [];
  const mirrors: Mirror[] = [];
  for (const target of targets) {
    const parts = pathComponents(target.path);
    if (parts.length === 0) continue;
    if (!(await makeParents(stack, layerDir, parts.slice(0, -1), mirrors, skipLayer))) {
      throw new BuildError(
        'RUN_MOUNT_TARGET',
        `RUN --mount: a parent of ${target.path} is not a directory`,
      );
    }
    const dest = path.join(layerDir, ...parts);
    if (target.kind === 'dir') await mkdirFresh(dest);
    else await writeFile(dest, '', { mode: 0o644, flag: 'a' });
    created.push(parts.join('/'));
  }
  await applyMirrors(mirrors, stack.xattrPrefix);
  return created;
}

export async function prepareMountpoints(
  stack: LayerStack,
  layerDir: string,
): Promise<MountpointPlan> {
  const mount = { proc: false, dev: false, sys: false, hosts: false, resolvConf: false };
  const created: string[] = [];
  const mirrors: Mirror[] = [];

  for (const mp of MOUNTPOINTS) {
    const hit = await stack.lstat(`/${mp.path}`);
    if (hit !== undefined) {
      // A symlinked /etc/resolv.conf (systemd-resolved images) is left alone: mounting over it
      // would follow the link on the host side.
      mount[mp.name] = mp.kind === 'dir' ? hit.stat.isDirectory() : hit.stat.isFile();
      continue;
    }
    const parts = pathComponents(mp.path);
    if (!(await makeParents(stack, layerDir, parts.slice(0, -1), mirrors))) continue;

    const dest = path.join(layerDir, mp.path);
    if (mp.kind === 'dir') await mkdir(dest, { mode: 0o755 });
    else await writeFile(dest, '', { mode: 0o644 });
    mount[mp.name] = true;
    created.push(mp.path);
  }

  await applyMirrors(mirrors, stack.xattrPrefix);
  return { mount, created };
}

/**
 * Creates the working directory in the upper dir when the image lacks it, as runc does for a
 * process's cwd: new directories are 0755 root:root, existing parents are copied up as overlay
 * would. Returns the cwd with symlinks resolved inside the root. `stack` must have the upper dir
 * on top (layer 0).
 */
export async function ensureCwd(stack: LayerStack, upperDir: string, cwd: string): Promise<string> {
  const resolved = await stack.resolve(cwd);
  const parts = pathComponents(resolved);
  const hit = await stack.lstat(resolved);
  if (hit !== undefined) {
    if (!hit.stat.isDirectory()) {
      throw new BuildError('RUN_CWD_NOT_DIR', `working directory ${cwd} is not a directory`);
    }
    return resolved;
  }

  const mirrors: Mirror[] = [];
  if (!(await makeParents(stack, upperDir, parts, mirrors, 0))) {
    throw new BuildError('RUN_CWD_NOT_DIR', `working directory ${cwd} is not a directory`);
  }
  await applyMirrors(mirrors, stack.xattrPrefix);
  return resolved;
}
