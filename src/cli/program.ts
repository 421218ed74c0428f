import { Command } from 'commander';

/** Builds the commander program; each subcommand lives in its own file. */
export async function runCli(argv: string[]): Promise<number> {
  const program = new Command('kiln');
  program.description('Build OCI images from Dockerfiles without a daemon and without privileges');
  await program.parseAsync(argv);
  return 0;
}
