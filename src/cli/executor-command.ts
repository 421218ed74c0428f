import { Command } from 'commander';
import { executorAction } from './executor-action.js';

/**
 * `kiln executor`: commander hands the raw arguments over, because kaniko's flags follow Go's
 * pflag rules (`--no-push=true`, `--cache=false`, booleans never taking the next argument) that
 * commander does not speak; executor-args.ts parses them.
 */
export function executorCommand(setExit: (code: number) => void): Command {
  return new Command('executor')
    .description('Build with the flags of the kaniko executor (kiln executor --help lists them)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[flags...]', 'kaniko executor flags')
    .action(async (flags: string[]) => setExit(await executorAction(flags)));
}
