import { link, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** A held lock; release() is idempotent. */
export interface HeldLock {
  release(): Promise<void>;
}

const POLL_MS = 100;

/**
 * A lock file shared by every kiln process using one cache directory. It is made complete, then
 * hard-linked into place (link(2) fails if the name exists), so a reader never sees a lock
 * without its holder. A lock whose holder process is gone (killed mid-step) is broken, since a
 * RUN step may legitimately hold one for hours and age says nothing.
 */
export async function tryLock(lockPath: string): Promise<HeldLock | undefined> {
  const holder = `${os.hostname()} ${process.pid}\n`;
  const temp = `${lockPath}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(temp, holder);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(temp, lockPath);
        return heldLock(lockPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (!(await holderIsGone(lockPath))) return undefined;
      await unlink(lockPath).catch(() => undefined);
    }
    return undefined;
  } finally {
    await rm(temp, { force: true });
  }
}

/** Waits until the lock is free (polling), or the signal aborts. */
export async function acquireLock(lockPath: string, signal?: AbortSignal): Promise<HeldLock> {
  for (;;) {
    signal?.throwIfAborted();
    const held = await tryLock(lockPath);
    if (held) return held;
    await sleep(POLL_MS, undefined, signal ? { signal } : undefined);
  }
}

function heldLock(lockPath: string): HeldLock {
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await rm(lockPath, { force: true });
    },
  };
}

async function holderIsGone(lockPath: string): Promise<boolean> {
  const text = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (text === undefined) return true;
  const [host, pidText] = text.trim().split(' ');
  // Another machine sharing the directory: its processes cannot be checked from here.
  if (host !== os.hostname()) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
