import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { KilnError } from '../errors.js';
import { buildAction } from './build-action.js';
import { buildCommand } from './build-command.js';
import { debugCommand } from './debug-command.js';
import { executorCommand } from './executor-command.js';
import { pruneCommand } from './prune-command.js';

const require = createRequire(import.meta.url);
const { version } = require('../../../package.json') as { version: string };

/**
 * Usage errors of every command (commands added with addCommand do not inherit these settings)
 * end in the catch below with exit code 2, and come out as a JSON error event under
 * --progress=json so a script reading stderr sees one format.
 */
function configureUsageErrors(command: Command, argv: string[]): void {
  const json = argv.some(
    (a, i) => a === '--progress=json' || (a === '--progress' && argv[i + 1] === 'json'),
  );
  command.exitOverride();
  if (json) {
    command.configureOutput({
      outputError: (text, write) => {
        const message = text.replace(/^error: /, '').trim();
        write(`${JSON.stringify({ type: 'error', code: 'USAGE', message })}\n`);
      },
    });
  }
  for (const sub of command.commands) configureUsageErrors(sub, argv);
}

/** Runs the kiln CLI and resolves to the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  let exitCode = 0;
  const setExit = (code: number): void => {
    exitCode = code;
  };

  const program = new Command('kiln')
    .description('Build OCI images from Dockerfiles without a daemon and without privileges')
    .version(version, '-v, --version')
    // Root options count only before the subcommand, so `kiln executor -v debug` reaches the
    // executor (kaniko's -v is --verbosity) instead of printing kiln's version.
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError();
  program.addCommand(buildCommand(async (ctx, flags) => setExit(await buildAction(ctx, flags))));
  program.addCommand(debugCommand(setExit));
  program.addCommand(executorCommand(setExit));
  program.addCommand(pruneCommand(setExit));
  configureUsageErrors(program, argv);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors with 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof KilnError) {
      process.stderr.write(`kiln: ${err.message}\n`);
      if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
      return err.exitCode;
    }
    throw err;
  }
  return exitCode;
}
