import { Command } from 'commander';
import { collect } from './collect.js';
import { pruneAction } from './prune-action.js';

/** `kiln prune`, spelled like `docker buildx prune`. */
export function pruneCommand(setExit: (code: number) => void): Command {
  return new Command('prune')
    .description('Remove build cache entries from the cache directory')
    .option('-a, --all', 'also remove extracted base layers and pulled blobs')
    .option('--keep-storage <size>', 'keep the most recently used entries up to this size (10GB)')
    .option('--filter <filter>', 'until=DURATION: only entries unused for that long', collect, [])
    .option('--cache-dir <dir>', 'the cache directory (default: the one kiln build uses)')
    .option('-f, --force', 'do not ask for confirmation (kiln never asks)')
    .action(async (flags) => setExit(await pruneAction(flags)));
}
