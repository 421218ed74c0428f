import { spawn } from 'node:child_process';

/** What a finished child process left behind. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is closed afterwards (stdin is empty without it). */
  input?: string | Buffer;
  uid?: number;
  gid?: number;
  /** Kills the child with SIGKILL after this long; the result then has signal SIGKILL. */
  timeoutMs?: number;
  /** When false, a non-zero exit is returned instead of thrown. Defaults to true. */
  check?: boolean;
}

/** Thrown by runCommand when a checked command fails; carries the whole result. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    const status = result.signal ? `signal ${result.signal}` : `exit code ${result.code}`;
    const stderr = result.stderr.trim().split('\n').slice(-20).join('\n');
    super(`${command} failed with ${status}${stderr ? `:\n${stderr}` : ''}`);
    this.name = 'CommandError';
  }
}

/** Runs a program without a shell and collects its output as UTF-8 text. */
export function runCommand(
  cmd: string,
  args: readonly string[],
  opts: CommandOptions = {},
): Promise<CommandResult> {
  const shown = [cmd, ...args].join(' ');

  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      uid: opts.uid,
      gid: opts.gid,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A child that exits before reading its input makes the pipe fail; the exit code says more.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');

    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);

    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: CommandResult = {
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (opts.check !== false && (code !== 0 || signal !== null)) {
        reject(new CommandError(shown, result));
      } else {
        resolve(result);
      }
    });
  });
}
