import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs fn while holding a lock shared by every process on this machine.
 *
 * node --test runs each test file in its own process, so two files can ask for the same
 * fixture or the same test user at once; mkdir is atomic, which makes a directory a lock.
 * The holder's pid is kept inside: a lock whose holder has died (a test killed on timeout)
 * is broken at once, and one older than staleMs is broken whatever it says. Breaking is not
 * atomic, so callers must still tolerate, rarely, a second holder (by renaming results into
 * place and accepting one that is already there).
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  staleMs = 10 * 60_000,
): Promise<T> {
  for (;;) {
    try {
      await mkdir(lockPath);
      await writeFile(join(lockPath, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isStale(lockPath, staleMs)) {
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

async function isStale(lockPath: string, staleMs: number): Promise<boolean> {
  const info = await stat(lockPath).catch(() => undefined);
  if (!info) return false;
  if (Date.now() - info.mtimeMs > staleMs) return true;

  const pid = Number(await readFile(join(lockPath, 'pid'), 'utf8').catch(() => ''));
  // No pid yet: the holder is between mkdir and writeFile, unless it died there; the age
  // check above covers that.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
