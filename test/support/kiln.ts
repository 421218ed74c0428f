import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CommandOptions, type CommandResult, runCommand } from './command.js';
import { runAs, type TestUser } from './users.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The bundled CLI (dist/src/cli/kiln.mjs), the file `npx kiln` runs. */
export const KILN_BIN = join(here, '..', '..', 'src', 'cli', 'kiln.mjs');

/** Runs the kiln CLI as a separate process; never throws on a non-zero exit. */
export function runKiln(args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return runCommand(process.execPath, [KILN_BIN, ...args], {
    timeoutMs: 300_000,
    ...opts,
    check: false,
  });
}

/**
 * Runs the kiln CLI as a program, not under `node`: the way the npm bin link, `npx kiln` and a
 * symlink on PATH start it, through the launcher lines at the top of the bundle. bin defaults to
 * KILN_BIN; a symlink to it behaves as npm's bin link.
 */
export function runKilnProgram(
  args: string[],
  opts: CommandOptions = {},
  bin = KILN_BIN,
): Promise<CommandResult> {
  return runCommand(bin, args, { timeoutMs: 300_000, ...opts, check: false });
}

/** Runs the kiln CLI as an unprivileged user. */
export function runKilnAs(
  user: TestUser,
  args: string[],
  opts: Omit<CommandOptions, 'uid' | 'gid'> = {},
): Promise<CommandResult> {
  return runAs(user, process.execPath, [KILN_BIN, ...args], {
    timeoutMs: 300_000,
    ...opts,
    check: false,
  });
}

/** The JSON events of a `--progress=json` run. */
export function jsonEvents(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
