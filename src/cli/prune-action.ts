import { pruneCache } from '../cache/prune.js';
import { KilnError } from '../errors.js';
import { reexecInUserNamespace } from '../worker/sandbox/userns.js';
import { formatSize, type PruneFlags, toPruneOptions } from './prune-options.js';

/**
 * `kiln prune`: snapshots made in a rootless user namespace hold files owned by subordinate ids,
 * which only that namespace may delete, so prune re-runs itself there as builds do.
 */
export async function pruneAction(flags: PruneFlags): Promise<number> {
  try {
    const { cacheDir, options } = toPruneOptions(flags, process.cwd(), process.env);
    const childExit = await reexecInUserNamespace({ isolation: 'auto' });
    if (childExit !== undefined) return childExit;

    const result = await pruneCache(cacheDir, options);
    const r = result.removed;
    process.stdout.write(
      `Deleted: ${r.records} step records, ${r.snapshots} snapshots, ${r.blobs} blobs, ` +
        `${r.logs} logs, ${r.mounts} cache mounts, ${r.conversions} conversion records, ` +
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
