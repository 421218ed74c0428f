/**
 * A read-only overlay of snapshot dirs, mounted in kiln's own mount namespace (the user namespace
 * kiln re-executed into, or the real one in chroot mode), for COPY --from a stage.
 */

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../errors.js';
import { activeIsolation } from '../sandbox/userns.js';
import type { XattrPrefix } from './entry-from-stat.js';
import { materializeLayers } from './materialize-layers.js';

const MOUNT = '/usr/bin/mount';
const UMOUNT = '/usr/bin/umount';

function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new BuildError('WORKER_MOUNT', `${cmd} ${args.join(' ')}: ${stderr.trim()}`));
    });
  });
}

/** Checks a path can go into overlay's comma/colon-separated option string. */
export function checkOverlayPath(p: string): void {
  if (/[,:\\]/.test(p)) {
    throw new BuildError('WORKER_OVERLAY_PATH', `path not usable in an overlay mount: ${p}`, {
      hint: 'use a cache directory whose path has no comma, colon or backslash',
    });
  }
}

/** Targets filled by materializeLayers instead of a mount (isolation 'none'). */
const flattened = new Set<string>();

/** Empty bottom layers made for single-dir mounts, removed again by unmount(). */
const emptyLowers = new Map<string, string>();

/**
 * Mounts `lowerDirs` (bottom first) read-only at `target`. Overlay without an upper dir needs two
 * lowers; a single dir gets an empty one beneath it rather than a bind mount, so its whiteouts
 * still hide what they should instead of showing up as 0/0 devices.
 */
export async function mountMerged(
  lowerDirs: readonly string[],
  target: string,
  xattrPrefix: XattrPrefix = 'user',
): Promise<void> {
  const topFirst = [...lowerDirs].reverse();
  if (topFirst.length === 0) throw new BuildError('WORKER_MOUNT', 'no lower dirs to mount');
  if (activeIsolation() === 'none') {
    // Nothing can be mounted: a tree of hard links to the layer files, only ever read.
    await materializeLayers(lowerDirs, target, xattrPrefix);
    flattened.add(target);
    return;
  }
  if (topFirst.length === 1) {
    // Beside the target, in the build's scratch space: nothing goes outside the cache dir.
    const empty = await mkdtemp(path.join(path.dirname(target), '.empty-lower-'));
    emptyLowers.set(target, empty);
    topFirst.push(empty);
  }
  for (const d of topFirst) checkOverlayPath(d);

  const opts = [`lowerdir=${topFirst.join(':')}`];
  if (xattrPrefix === 'user') opts.push('userxattr');
  await run(MOUNT, ['-t', 'overlay', 'overlay', '-o', opts.join(','), target]);
}

export async function unmount(target: string): Promise<void> {
  if (flattened.delete(target)) {
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { mode: 0o700 });
    return;
  }
  await run(UMOUNT, [target]);
  const empty = emptyLowers.get(target);
  if (empty !== undefined) {
    emptyLowers.delete(target);
    await rm(empty, { recursive: true, force: true });
  }
}
