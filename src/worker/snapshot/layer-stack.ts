/**
 * Looks paths up through a stack of overlay-format directories (extracted layers and snapshots)
 * without mounting them: the top directory wins, a whiteout device hides the path in every layer
 * below, an opaque directory hides what lower layers have under it. Used for metadata questions
 * (does the COPY destination exist, what do /etc/passwd and /etc/group say).
 */

import type { BigIntStats } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';
import { isOpaqueDir, isOverlayWhiteout, type XattrPrefix } from './entry-from-stat.js';

export interface StackHit {
  /** Where the file is on the host. */
  hostPath: string;
  /** Index into the stack's dirs (0 = top). */
  layer: number;
  stat: BigIntStats;
}

const MAX_SYMLINKS = 40;

/** lstat with bigint times, or undefined when nothing is there (ENOENT, ENOTDIR). */
export async function lstatOrUndefined(p: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(p, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Splits an in-container path into components, dropping '.' and empty parts. */
export function pathComponents(containerPath: string): string[] {
  return containerPath.split('/').filter((c) => c !== '' && c !== '.');
}

export class LayerStack {
  /** Directories, top first. */
  readonly dirs: readonly string[];
  readonly xattrPrefix: XattrPrefix;

  constructor(dirsTopFirst: readonly string[], xattrPrefix: XattrPrefix) {
    this.dirs = dirsTopFirst;
    this.xattrPrefix = xattrPrefix;
  }

  /** A stack from snapshot dirs listed bottom first, as RunSpec.lowerDirs lists them. */
  static fromLowerDirs(lowerDirs: readonly string[], xattrPrefix: XattrPrefix): LayerStack {
    return new LayerStack([...lowerDirs].reverse(), xattrPrefix);
  }

  /**
   * The file at exactly this path, no symlink followed (a symlink among the parents means the
   * path does not exist as written; use resolve() first to follow them).
   */
  async lstat(containerPath: string): Promise<StackHit | undefined> {
    const parts = pathComponents(containerPath);
    if (parts.includes('..')) return undefined;

    for (let layer = 0; layer < this.dirs.length; layer++) {
      const root = this.dirs[layer] as string;
      let opaqueAbove = false;
      let hostPath = root;

      if (parts.length === 0) {
        const stat = await lstatOrUndefined(root);
        if (stat !== undefined) return { hostPath: root, layer, stat };
        continue;
      }
      for (let i = 0; i < parts.length; i++) {
        hostPath = path.join(hostPath, parts[i] as string);
        const stat = await lstatOrUndefined(hostPath);
        if (stat === undefined) break;
        if (isOverlayWhiteout(stat)) return undefined;
        if (i === parts.length - 1) return { hostPath, layer, stat };
        // A non-directory here replaces whatever directory lower layers had at this path.
        if (!stat.isDirectory()) return undefined;
        if (isOpaqueDir(hostPath, this.xattrPrefix)) opaqueAbove = true;
      }
      if (opaqueAbove) return undefined;
    }
    return undefined;
  }

  /**
   * Resolves symlinks the way the kernel would inside a chroot of the merged tree: absolute
   * targets start again at the root and '..' never climbs above it. Missing trailing components
   * are kept as written, so the result also names where a new file would go.
   */
  async resolve(containerPath: string, followFinal = true): Promise<string> {
    const pending = pathComponents(containerPath);
    const done: string[] = [];
    let links = 0;

    while (pending.length > 0) {
      const part = pending.shift() as string;
      if (part === '..') {
        done.pop();
        continue;
      }
      const candidate = [...done, part];
      const hit = await this.lstat(`/${candidate.join('/')}`);
      const isLast = pending.length === 0;
      if (hit === undefined || !hit.stat.isSymbolicLink() || (isLast && !followFinal)) {
        done.push(part);
        continue;
      }

      if (++links > MAX_SYMLINKS) {
        throw new InputError(
          'WORKER_SYMLINK_LOOP',
          `too many levels of symbolic links: ${containerPath}`,
        );
      }
      const target = await readlink(hit.hostPath);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...pathComponents(target));
    }
    return `/${done.join('/')}`;
  }

  /** stat(2) semantics: symlinks followed. */
  async stat(containerPath: string): Promise<StackHit | undefined> {
    return this.lstat(await this.resolve(containerPath));
  }

  /** The file's bytes, following symlinks; undefined when it does not exist or is no file. */
  async readFile(containerPath: string): Promise<Buffer | undefined> {
    const hit = await this.stat(containerPath);
    if (hit === undefined || !hit.stat.isFile()) return undefined;
    return readFile(hit.hostPath);
  }
}
