import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../errors.js';

/**
 * Creates the cache directory one component at a time and checks it is a writable directory.
 * Node's recursive mkdir never returns for some paths (under /proc it loops forever), and its
 * errors name a syscall rather than the flag the user set, so kiln does this itself.
 */
export async function ensureCacheDir(dir: string): Promise<void> {
  const absolute = path.resolve(dir);
  const parts = absolute.split(path.sep).filter((p) => p !== '');
  let current: string = path.sep;
  for (const part of parts) {
    current = path.join(current, part);
    try {
      await fsp.mkdir(current);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw unusable(absolute, code);
      const st = await fsp.stat(current).catch(() => undefined);
      if (!st?.isDirectory()) throw unusable(absolute, `${current} is not a directory`);
    }
  }
  try {
    await fsp.access(absolute, fsp.constants.W_OK | fsp.constants.X_OK);
  } catch (err) {
    throw unusable(absolute, (err as NodeJS.ErrnoException).code);
  }
}

/**
 * For commands that only read or clean a cache (`kiln prune`): false when there is none yet,
 * the same error as a build's when the path is there but is no writable directory.
 */
export async function checkExistingCacheDir(dir: string): Promise<boolean> {
  const absolute = path.resolve(dir);
  let st: Awaited<ReturnType<typeof fsp.stat>>;
  try {
    st = await fsp.stat(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    throw unusable(absolute, code);
  }
  if (!st.isDirectory()) throw unusable(absolute, 'not a directory');
  try {
    await fsp.access(absolute, fsp.constants.W_OK | fsp.constants.X_OK);
  } catch (err) {
    throw unusable(absolute, (err as NodeJS.ErrnoException).code);
  }
  return true;
}

function unusable(dir: string, why: string | undefined): InputError {
  return new InputError('CACHE_DIR_UNUSABLE', `cannot use ${dir} as the cache directory: ${why}`, {
    hint: 'pass a writable directory with --cache-dir or KILN_CACHE_DIR',
  });
}
