import { Command } from 'commander';
import { debugParse } from './debug-parse.js';

/** `kiln debug ...`: tools for looking at one stage of the pipeline. */
export function debugCommand(setExit: (code: number) => void): Command {
  const debug = new Command('debug').description('Inspect parts of the build pipeline');
  debug
    .command('parse')
    .description("Parse a Dockerfile and print it in the dump format of BuildKit's parser tests")
    .argument('<file>', 'the Dockerfile, or - for stdin')
    .action(async (file: string) => setExit(await debugParse(file)));
  return debug;
}
