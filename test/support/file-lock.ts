import { mkdir, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs fn while holding a lock shared by every process on this machine.
 *
 * node --test runs each test file in its own process, so two files can ask for the same
 * fixture or the same test user at once; mkdir is atomic, which makes a directory a lock.
 * A lock older than staleMs is taken to belong to a process that died and is broken.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  staleMs = 10 * 60_000,
): Promise<T> {
  for (;;) {
    try {
      await mkdir(lockPath);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const info = await stat(lockPath).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > staleMs) {
      await rm(lockPath, { recursive: true, force: true });
      continue;
    }
    await sleep(100);
  }

  try {
    return await fn();
  } finally {
    await rm(lockPath, { recursive: true, force: true });
  }
}
