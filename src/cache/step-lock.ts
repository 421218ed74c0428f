import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often a holder refreshes its lock's mtime, and when a lock nobody refreshes is stale. */
const HEARTBEAT_MS = 5_000;
const STALE_MS = 30_000;
const POLL_MS = 100;

interface Holder {
  pid: number;
  host: string;
  nonce: string;
}

/**
 * Cross-process locks on step keys, as `<cacheDir>/locks/<hex>.lock` files created with O_EXCL.
 * Two kiln processes sharing a cache dir then run a given step once: the second waits, then finds
 * the first one's record. A lock whose holder died (kill -9) is broken: on this host when its pid
 * is gone, from any host when its heartbeat (the file's mtime) stopped.
 *
 * Breaking has a narrow race: two waiters may both judge the same lock stale; the rename below
 * lets only one of them take the stale file away, and a waiter that took a fresh lock by mistake
 * puts it back.
 */
export class StepLocks {
  private readonly root: string;

  constructor(cacheDir: string) {
    this.root = path.join(cacheDir, 'locks');
  }

  async withLock<T>(key: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const file = path.join(this.root, `${key.replace(/^sha256:/, '')}.lock`);
    await fsp.mkdir(this.root, { recursive: true });
    const me: Holder = {
      pid: process.pid,
      host: os.hostname(),
      nonce: randomBytes(8).toString('hex'),
    };
    while (!(await tryCreate(file, me))) {
      signal.throwIfAborted();
      await breakIfStale(file);
      await sleep(POLL_MS, undefined, { signal }).catch(() => signal.throwIfAborted());
    }
    const beat = setInterval(() => {
      const now = new Date();
      fsp.utimes(file, now, now).catch(() => {});
    }, HEARTBEAT_MS);
    beat.unref();
    try {
      return await fn();
    } finally {
      clearInterval(beat);
      const holder = await readHolder(file);
      if (holder?.nonce === me.nonce) await fsp.rm(file, { force: true });
    }
  }
}

async function tryCreate(file: string, me: Holder): Promise<boolean> {
  try {
    await fsp.writeFile(file, JSON.stringify(me), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

async function breakIfStale(file: string): Promise<void> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st) return;
  const holder = await readHolder(file);
  // On this host a dead pid is proof; elsewhere (or before a new holder wrote its content, or
  // inside another pid namespace) only a heartbeat that stopped is.
  const sameHost = holder !== undefined && holder.host === os.hostname();
  const stale = sameHost ? !isAlive(holder.pid) : Date.now() - st.mtimeMs > STALE_MS;
  if (!stale) return;

  const taken = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.rename(file, taken);
  } catch {
    return;
  }
  const got = await readHolder(taken);
  if (holder && got?.nonce !== holder.nonce) {
    // Someone else broke the stale lock and a new holder took it before our rename: give it back.
    await fsp.link(taken, file).catch(() => {});
  }
  await fsp.rm(taken, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
