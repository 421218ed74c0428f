import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { checkExistingCacheDir } from '../cache/ensure-cache-dir.js';
import { pruneCache } from '../cache/prune.js';
import { BuildError, KilnError } from '../errors.js';
import { reexecInUserNamespace } from '../worker/sandbox/userns.js';
import { formatSize, type PruneFlags, toPruneOptions } from './prune-options.js';

/**
 * `kiln prune`: snapshots made in a rootless user namespace hold files owned by subordinate ids,
 * which only that namespace may delete, so prune re-runs itself there as builds do.
 */
export async function pruneAction(flags: PruneFlags): Promise<number> {
  try {
    const { cacheDir, options } = toPruneOptions(flags, process.cwd(), process.env);
    await checkExistingCacheDir(cacheDir);
    const childExit = await reexecInUserNamespace({ isolation: 'auto' });
    if (childExit !== undefined) return childExit;

    const result = await pruneCache(cacheDir, options).catch(async (err: unknown) => {
      throw await deniedError(err);
    });
    const r = result.removed;
    process.stdout.write(
      `Deleted: ${r.records} step records, ${r.snapshots} snapshots, ${r.blobs} blobs, ` +
        `${r.logs} logs, ${r.contextStats} context stat caches, ${r.mounts} cache mounts, ` +
        `${r.conversions} conversion records, ` +
        `${r.temps} temp files\n` +
        `Total reclaimed: ${formatSize(result.reclaimedBytes)}\n` +
        `Cache size now: ${formatSize(result.remainingBytes)}\n`,
    );
    if (result.keptInUse > 0) {
      process.stderr.write(
        `WARNING: kept ${result.keptInUse} entries in use: kiln is building with this cache` +
          `${result.liveBuilds.length > 0 ? ` (pid ${result.liveBuilds.join(', ')})` : ''}\n`,
      );
    }
    return 0;
  } catch (err) {
    process.stderr.write(`ERROR: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof KilnError && err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
    return err instanceof KilnError ? err.exitCode : 1;
  }
}

/** The id a file owned by an id outside this user namespace shows (Linux's default). */
const OVERFLOW_UID = 65534;

/**
 * An entry prune may not remove is one another user wrote into this cache (most often root,
 * with `sudo kiln build`): the error names it and its directory's owner instead of a raw EACCES.
 */
async function deniedError(err: unknown): Promise<unknown> {
  const e = err as NodeJS.ErrnoException;
  if ((e?.code !== 'EACCES' && e?.code !== 'EPERM') || typeof e.path !== 'string') return err;
  const dir = path.dirname(e.path);
  const uid = (await fsp.stat(dir).catch(() => undefined))?.uid;
  const owner =
    uid === undefined
      ? 'another user'
      : uid === OVERFLOW_UID
        ? 'a user outside your id range (such as root)'
        : `uid ${uid}`;
  return new BuildError(
    'CACHE_PRUNE_DENIED',
    `cannot remove ${e.path}: permission denied; ${dir} belongs to ${owner}`,
    {
      hint: 'prune as the user who wrote those entries, or remove the cache directory as root',
      cause: err,
    },
  );
}
