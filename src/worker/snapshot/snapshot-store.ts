/**
 * Snapshot directories under `<cacheDir>/snapshots/<id>/fs`. A snapshot is filled under a temporary
 * name and renamed into place when complete, so a crash never leaves a half-written snapshot that
 * a later build would take for a finished one.
 */

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError, InputError } from '../../errors.js';

export interface Snapshot {
  id: string;
  /** The snapshot's root directory (`.../<id>/fs`). */
  dir: string;
}

/** A snapshot being written: fill `dir`, then commit() or discard(). */
export interface PendingSnapshot {
  id: string;
  dir: string;
  /** Scratch space on the same filesystem (an overlay workdir must be). */
  workDir: string;
  commit(): Promise<Snapshot>;
  discard(): Promise<void>;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export class SnapshotStore {
  readonly root: string;

  constructor(cacheDir: string) {
    this.root = path.join(cacheDir, 'snapshots');
  }

  private checkId(id: string): void {
    if (!ID_PATTERN.test(id)) throw new InputError('WORKER_SNAPSHOT_ID', `bad snapshot id: ${id}`);
  }

  /** Starts a snapshot; `id` defaults to a random one. */
  async create(id: string = randomBytes(16).toString('hex')): Promise<PendingSnapshot> {
    this.checkId(id);
    const tmp = path.join(this.root, `.tmp-${id}-${randomBytes(6).toString('hex')}`);
    const dir = path.join(tmp, 'fs');
    const workDir = path.join(tmp, 'work');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // The dir is the root of the image's filesystem (an overlay's merged root takes the upper
    // dir's mode): 0700 would lock every non-root USER out of '/'. The parent keeps others out.
    await chmod(dir, 0o755);
    await mkdir(workDir, { mode: 0o700 });
    const final = path.join(this.root, id);

    return {
      id,
      dir,
      workDir,
      commit: async () => {
        // The overlay workdir holds a root-owned 0000 "work" dir after a mount: drop it first.
        await rm(workDir, { recursive: true, force: true });
        try {
          await rename(tmp, final);
        } catch (err) {
          await rm(tmp, { recursive: true, force: true });
          // Ids name content (a step key, a diff ID): another build sharing this cache that
          // committed the same id first made it from the same inputs, so that one is used.
          const code = (err as NodeJS.ErrnoException).code;
          const existing =
            code === 'ENOTEMPTY' || code === 'EEXIST' ? await this.get(id) : undefined;
          if (existing) return existing;
          throw new BuildError('WORKER_SNAPSHOT_COMMIT', `cannot commit snapshot ${id}`, {
            cause: err,
          });
        }
        return { id, dir: path.join(final, 'fs') };
      },
      discard: () => rm(tmp, { recursive: true, force: true }),
    };
  }

  async get(id: string): Promise<Snapshot | undefined> {
    this.checkId(id);
    const dir = path.join(this.root, id, 'fs');
    try {
      return (await stat(dir)).isDirectory() ? { id, dir } : undefined;
    } catch {
      return undefined;
    }
  }

  async remove(id: string): Promise<void> {
    this.checkId(id);
    // Rename first so a concurrent get() never sees a half-deleted tree.
    const doomed = path.join(this.root, `.rm-${id}-${randomBytes(6).toString('hex')}`);
    try {
      await rename(path.join(this.root, id), doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(doomed, { recursive: true, force: true });
  }
}
