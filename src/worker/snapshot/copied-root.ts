/**
 * A writable root filesystem without any mount, kaniko's way: the layers are flattened into a
 * "before" tree (hard links to the layer files) and copied with `cp -a` into the tree a step
 * may change; afterwards the walking differ compares the two, and its entries are written into
 * an upper dir in overlay format (through the tar codec and the layer extractor), so the rest of
 * the build cannot tell it from an overlay upper dir. Used by isolation 'none', where kiln has
 * neither CAP_SYS_ADMIN nor a user namespace.
 */

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../errors.js';
import { extractLayer } from '../../image/tar/extract-layer.js';
import { encodeTar } from '../../image/tar/tar-writer.js';
import { diffTrees } from './diff-trees.js';
import type { XattrPrefix } from './entry-from-stat.js';
import { materializeLayers } from './materialize-layers.js';

const CP = '/bin/cp';

function copyTree(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // -a keeps owners, modes, nanosecond times, hard links and xattrs, so an untouched file
    // compares equal to its "before" twin.
    const child = spawn(CP, ['-a', '--no-target-directory', from, to], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', (err) => reject(new BuildError('WORKER_COPY_ROOT', err.message)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new BuildError('WORKER_COPY_ROOT', `${CP} -a failed: ${stderr.trim()}`));
    });
  });
}

export interface CopiedRootOptions {
  /** Called on the "before" tree before it is copied: stubs made there are in both trees. */
  prepare?: (before: string) => Promise<void>;
}

export class CopiedRoot {
  private constructor(
    /** Scratch directory holding both trees. */
    private readonly dir: string,
    /** The tree as it was before the step. */
    readonly before: string,
    /** The tree the step changes. */
    readonly root: string,
    private readonly xattrPrefix: XattrPrefix,
  ) {}

  /** Flattens `lowerDirs` (bottom first) into a fresh pair of trees under `scratchDir`. */
  static async create(
    lowerDirs: readonly string[],
    scratchDir: string,
    xattrPrefix: XattrPrefix,
    opts: CopiedRootOptions = {},
  ): Promise<CopiedRoot> {
    await mkdir(scratchDir, { recursive: true });
    const dir = await mkdtemp(path.join(scratchDir, 'copied-'));
    const before = path.join(dir, 'before');
    const root = path.join(dir, 'root');
    try {
      await mkdir(before, { mode: 0o755 });
      await materializeLayers(lowerDirs, before, xattrPrefix);
      await opts.prepare?.(before);
      await copyTree(before, root);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return new CopiedRoot(dir, before, root, xattrPrefix);
  }

  /**
   * Writes what changed in `root` into `upperDir` (empty, overlay format). `ignore` names layer
   * paths (no leading '/') whose changes are dropped, with everything under them.
   */
  async commit(upperDir: string, ignore: string[] = []): Promise<number> {
    const entries = await diffTrees(this.before, this.root, {
      ignore,
      xattrPrefix: this.xattrPrefix,
    });
    if (entries.length === 0) return 0;
    await extractLayer(encodeTar(entries), upperDir, {
      whiteouts: 'overlay',
      overlayXattrPrefix: this.xattrPrefix,
    });
    return entries.length;
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
