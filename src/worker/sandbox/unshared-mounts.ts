/**
 * RUN --mount for isolation 'none', where nothing can be mounted: each mount's content is put in
 * place in the step's copied root before the step and taken out again after it, so the walking
 * differ never sees it, as it never sees a real mount. What the image had at a target is moved
 * aside meanwhile and moved back; parents made for a target are removed again and the times of
 * the directories touched are restored, so they do not show up as changed either.
 *
 * What this cannot give, stated plainly: a read-only mount is writable (what the step writes
 * there is still thrown away), a secret is a file on the scratch disk for the step's duration
 * (not on a tmpfs), a tmpfs is a plain directory, a cache mount is moved into the root, so two
 * steps using one cache directory at the same time wait for each other (it is locked), and an
 * SSH agent socket is refused.
 */

import { execFile } from 'node:child_process';
import type { BigIntStats } from 'node:fs';
import {
  chmod,
  chown,
  lutimes,
  mkdir,
  mkdtemp,
  rename,
  rm,
  rmdir,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../errors.js';
import type { XattrPrefix } from '../snapshot/entry-from-stat.js';
import { LayerStack, lstatOrUndefined, pathComponents } from '../snapshot/layer-stack.js';
import { materializeLayers } from '../snapshot/materialize-layers.js';
import type { SecretEnv, StepMount } from './step-mounts.js';

export interface PlacedMounts {
  /** Secret variables for the step's environment. */
  env: string[];
  /** Takes every mount out again; call it whether or not the step succeeded. */
  undo(): Promise<void>;
}

interface Undo {
  hostTarget: string;
  /** Where the target's previous content waits, if there was any. */
  stash?: string;
  /** A cache directory moved in, to move back. */
  moveBackTo?: string;
  /** Parents made for this target, deepest last. */
  createdDirs: string[];
  /** The deepest directory that existed, whose times change when entries come and go. */
  touched: { dir: string; stat: BigIntStats };
}

export async function placeUnsharedMounts(
  root: string,
  scratch: string,
  mounts: StepMount[],
  secretEnv: SecretEnv[],
  prefix: XattrPrefix,
): Promise<PlacedMounts> {
  const env = secretEnv.map((e) => `${e.name}=${e.data.toString('utf8')}`);
  const stashDir = await mkdtemp(path.join(scratch, 'mount-stash-'));
  const undos: Undo[] = [];
  const undo = async () => {
    for (const u of undos.reverse()) await takeOut(u);
    await rm(stashDir, { recursive: true, force: true });
  };
  // Parents before children, so a mount nested in another one lands inside it.
  const ordered = [...mounts].sort(
    (a, b) => pathComponents(a.target).length - pathComponents(b.target).length,
  );
  try {
    for (const [i, mount] of ordered.entries()) {
      undos.push(await putIn(root, path.join(stashDir, String(i)), mount, prefix));
    }
  } catch (err) {
    await undo();
    throw err;
  }
  return { env, undo };
}

async function putIn(
  root: string,
  stash: string,
  mount: StepMount,
  prefix: XattrPrefix,
): Promise<Undo> {
  const target = await new LayerStack([root], prefix).resolve(mount.target);
  const parts = pathComponents(target);
  if (parts.length === 0) {
    throw new BuildError('RUN_MOUNT_TARGET', `RUN --mount: cannot mount over / (${mount.target})`);
  }
  const hostTarget = path.join(root, ...parts);
  const { createdDirs, touched } = await makeParents(root, parts.slice(0, -1), mount.target);
  const u: Undo = { hostTarget, createdDirs, touched };
  if ((await lstatOrUndefined(hostTarget)) !== undefined) {
    await rename(hostTarget, stash);
    u.stash = stash;
  }

  switch (mount.kind) {
    case 'layers':
      await copyFromLayers(mount.lowerDirs, mount.source, hostTarget, `${stash}.src`, prefix);
      break;
    case 'dir':
      await rename(mount.hostPath, hostTarget).catch((err: NodeJS.ErrnoException) => {
        throw new BuildError(
          'RUN_MOUNT_UNSHARED',
          `RUN --mount=type=cache at ${mount.target}: cannot move the cache directory into the ` +
            `step's root (${err.code})`,
          { hint: 'keep the cache directory and its scratch space on one filesystem' },
        );
      });
      u.moveBackTo = mount.hostPath;
      break;
    case 'tmpfs':
      await mkdir(hostTarget);
      await chmod(hostTarget, 0o1777);
      break;
    case 'secret':
      await writeFile(hostTarget, mount.data, { mode: 0o600 });
      await chown(hostTarget, mount.uid, mount.gid);
      await chmod(hostTarget, mount.mode);
      break;
    case 'socket':
      throw new BuildError(
        'RUN_MOUNT_NEEDS_NAMESPACES',
        `RUN --mount=type=ssh at ${mount.target} needs a mount`,
        { hint: 'isolation none cannot forward an SSH agent; use --isolation userns or chroot' },
      );
  }
  return u;
}

/** Makes the missing directories along `parts` (0755, owned by root). */
async function makeParents(
  root: string,
  parts: string[],
  target: string,
): Promise<{ createdDirs: string[]; touched: Undo['touched'] }> {
  let touched: Undo['touched'] | undefined;
  const createdDirs: string[] = [];
  let dir = root;
  for (const part of parts) {
    const parent = dir;
    dir = path.join(dir, part);
    const st = await lstatOrUndefined(dir);
    if (st !== undefined && !st.isDirectory()) {
      throw new BuildError(
        'RUN_MOUNT_TARGET',
        `RUN --mount: a parent of ${target} is not a directory`,
      );
    }
    if (st !== undefined) continue;
    touched ??= { dir: parent, stat: (await lstatOrUndefined(parent)) as BigIntStats };
    await mkdir(dir);
    await chmod(dir, 0o755);
    createdDirs.push(dir);
  }
  touched ??= { dir, stat: (await lstatOrUndefined(dir)) as BigIntStats };
  return { createdDirs, touched };
}

/** Copies `source` of the flattened layers to `dest` (never hard links: the step may write). */
async function copyFromLayers(
  lowerDirs: string[],
  source: string,
  dest: string,
  scratch: string,
  prefix: XattrPrefix,
): Promise<void> {
  if (lowerDirs.length === 0) {
    await mkdir(dest);
    return;
  }
  await mkdir(scratch, { mode: 0o700 });
  try {
    await materializeLayers(lowerDirs, scratch, prefix);
    const inside = await new LayerStack([scratch], prefix).resolve(source);
    const from = path.join(scratch, ...pathComponents(inside));
    if ((await lstatOrUndefined(from)) === undefined) {
      throw new BuildError('RUN_MOUNT_SOURCE', `RUN --mount: source ${source} not found`);
    }
    await copyAll(from, dest);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** `cp -a`: owners, modes, times, xattrs and hard links as they are, as CopiedRoot copies. */
function copyAll(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('/bin/cp', ['-a', '--no-target-directory', from, to], (err, _out, stderr) => {
      if (err === null) resolve();
      else reject(new BuildError('RUN_MOUNT_UNSHARED', `cp -a failed: ${stderr.trim()}`));
    });
  });
}

async function takeOut(u: Undo): Promise<void> {
  if (u.moveBackTo !== undefined) {
    const back = await rename(u.hostTarget, u.moveBackTo).then(
      () => true,
      () => false,
    );
    // The step removed the cache directory itself: the cache starts empty next time.
    if (!back) await mkdir(u.moveBackTo, { recursive: true });
  }
  await rm(u.hostTarget, { recursive: true, force: true });
  if (u.stash !== undefined) await rename(u.stash, u.hostTarget);
  for (const dir of [...u.createdDirs].reverse()) {
    // Kept when the step put something of its own there: that belongs in the layer.
    if (
      !(await rmdir(dir).then(
        () => true,
        () => false,
      ))
    )
      return;
  }
  const secs = (ns: bigint) => Number(ns) / 1e9;
  await lutimes(u.touched.dir, secs(u.touched.stat.atimeNs), secs(u.touched.stat.mtimeNs));
}
