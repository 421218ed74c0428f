import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { acquireLock, type HeldLock, tryLock } from './file-lock.js';

export type CacheSharing = 'shared' | 'private' | 'locked';

export interface CacheMountRequest {
  id: string;
  sharing: CacheSharing;
  /** Applied to the directory when it is first made. */
  mode: number;
  uid: number;
  gid: number;
  signal?: AbortSignal;
}

export interface CacheMountLease {
  /** The directory to mount; it persists after release. */
  dir: string;
  /** True when the directory was made for this lease (empty: a `from` may seed it). */
  created: boolean;
  release(): Promise<void>;
}

/** Extra instances a `private` mount may open before it waits for one to be free. */
const MAX_PRIVATE_INSTANCES = 64;

/**
 * The directories behind `RUN --mount=type=cache`, kept under `<cacheDir>/mounts/` between
 * builds. `shared` users all get the same directory without waiting; `locked` users of one id
 * take turns, through a lock file so that other kiln processes on the same cache wait too;
 * `private` takes the first instance nobody holds, making a new empty one when all are busy.
 * Shared users hold no lock, so a private or locked user can still run beside them.
 */
export class CacheMountStore {
  readonly root: string;

  constructor(cacheDir: string) {
    this.root = path.join(cacheDir, 'mounts');
  }

  async acquire(req: CacheMountRequest): Promise<CacheMountLease> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const base = path.join(this.root, dirName(req.id));
    if (req.sharing === 'shared') return this.open(base, req, undefined);
    if (req.sharing === 'locked') {
      return this.open(base, req, await acquireLock(`${base}.lock`, req.signal));
    }
    for (let n = 0; n < MAX_PRIVATE_INSTANCES; n++) {
      const dir = n === 0 ? base : `${base}@${n}`;
      const held = await tryLock(`${dir}.lock`);
      if (held) return this.open(dir, req, held);
    }
    return this.open(base, req, await acquireLock(`${base}.lock`, req.signal));
  }

  private async open(
    dir: string,
    req: CacheMountRequest,
    lock: HeldLock | undefined,
  ): Promise<CacheMountLease> {
    let created = false;
    try {
      await mkdir(dir);
      created = true;
      await chown(dir, req.uid, req.gid);
      await chmod(dir, req.mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        await lock?.release();
        throw err;
      }
    }
    // Prune removes the mounts used longest ago; a mount's own time says when that was.
    const now = new Date();
    await utimes(dir, now, now).catch(() => undefined);
    return { dir, created, release: async () => lock?.release() };
  }
}

/** A file name for any id: safe characters kept, others %-escaped, long ids hashed. */
export function dirName(id: string): string {
  const escaped = [...Buffer.from(id, 'utf8')]
    .map((b, i) => {
      const ch = String.fromCharCode(b);
      const safe = /[A-Za-z0-9_-]/.test(ch) || (ch === '.' && i > 0);
      return safe ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
  if (escaped.length <= 180) return escaped;
  return `sha256-${createHash('sha256').update(id).digest('hex')}`;
}
