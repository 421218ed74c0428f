/**
 * A writable overlay of snapshot dirs with an upper dir, mounted in kiln's own mount namespace,
 * so file operations (WORKDIR's mkdir, COPY) can work on the merged tree with plain fs calls
 * while the kernel does the copy-up and writes whiteouts into the upper dir, exactly as for RUN.
 */

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { BuildError } from '../../errors.js';
import { activeIsolation } from '../sandbox/userns.js';
import { CopiedRoot } from './copied-root.js';
import type { XattrPrefix } from './entry-from-stat.js';
import { checkOverlayPath } from './mount-merged.js';

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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

export interface OverlayMount {
  /** The merged tree. */
  root: string;
  unmount(): Promise<void>;
}

/**
 * Mounts `lowerDirs` (bottom first) under `upperDir` at a fresh directory in `scratchDir`.
 * With no lower dirs (a scratch base) the upper dir is used directly, without a mount.
 */
export async function mountOverlay(
  lowerDirs: readonly string[],
  upperDir: string,
  workDir: string,
  scratchDir: string,
  xattrPrefix: XattrPrefix,
): Promise<OverlayMount> {
  if (lowerDirs.length === 0) return { root: upperDir, unmount: async () => {} };
  if (activeIsolation() === 'none')
    return copiedOverlay(lowerDirs, upperDir, scratchDir, xattrPrefix);

  await mkdir(scratchDir, { recursive: true });
  const target = await mkdtemp(path.join(scratchDir, 'merged-'));
  const topFirst = [...lowerDirs].reverse();
  for (const d of [...topFirst, upperDir, workDir]) checkOverlayPath(d);
  const opts = [`lowerdir=${topFirst.join(':')}`, `upperdir=${upperDir}`, `workdir=${workDir}`];
  if (xattrPrefix === 'user') opts.push('userxattr');
  await run('/usr/bin/mount', ['-t', 'overlay', 'overlay', '-o', opts.join(','), target]);
  return {
    root: target,
    unmount: async () => {
      await run('/usr/bin/umount', [target]);
      await rm(target, { recursive: true, force: true });
    },
  };
}

/** Isolation 'none' cannot mount: a copied tree whose changes are written to the upper dir. */
async function copiedOverlay(
  lowerDirs: readonly string[],
  upperDir: string,
  scratchDir: string,
  xattrPrefix: XattrPrefix,
): Promise<OverlayMount> {
  const tree = await CopiedRoot.create(lowerDirs, scratchDir, xattrPrefix);
  return {
    root: tree.root,
    unmount: async () => {
      try {
        await tree.commit(upperDir);
      } finally {
        await tree.dispose();
      }
    },
  };
}
