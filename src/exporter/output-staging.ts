import { BuildError } from '../errors.js';

/** An output put in place, until the build is over: it can still be taken back. */
export interface Placed {
  /** Puts back what the destination held before (or nothing, if it held nothing). */
  undo(): Promise<void>;
  /** Forgets what the destination held before: the build succeeded. */
  keep(): Promise<void>;
}

/** An output written into a temp place next to its destination, not yet visible there. */
export interface StagedOutput {
  /** The destination, to name it when taking the output back fails. */
  dest: string;
  /** Moves the output into place; on failure leaves the destination as it was. */
  place(): Promise<Placed>;
  /** Removes the temp place (and any parent directories made for it). */
  discard(): Promise<void>;
}

/**
 * Outputs are all or nothing. Every exporter stages what it writes; pushes and the cache export
 * happen while the files are still staged, so a failure there discards them. Then every staged
 * output is put in place, and last the outputs that go to stdout are written, since those cannot
 * be taken back. When putting in place or writing to stdout fails, the outputs already put in
 * place are taken back (what their destinations held before comes back), so a failed build leaves
 * every destination as it was; only stdout may have received part of a tar.
 */
export class OutputStaging {
  private staged: StagedOutput[] = [];
  private streams: ((signal?: AbortSignal) => Promise<void>)[] = [];

  stage(output: StagedOutput): void {
    this.staged.push(output);
  }

  /**
   * An output that cannot be staged (stdout, a device, a pipe), written once every staged output
   * is in place. It gets the build's signal: a pipe may wait for its reader.
   */
  stream(write: (signal?: AbortSignal) => Promise<void>): void {
    this.streams.push(write);
  }

  async commit(signal?: AbortSignal): Promise<void> {
    const staged = this.take();
    const streams = this.streams;
    this.streams = [];
    const placed: { output: StagedOutput; placed: Placed }[] = [];
    try {
      for (const output of staged) placed.push({ output, placed: await output.place() });
      for (const write of streams) await write(signal);
    } catch (err) {
      const failures: string[] = [];
      for (const { output, placed: p } of placed.reverse()) {
        await p.undo().catch((undoErr: unknown) => failures.push(describe(output.dest, undoErr)));
      }
      for (const output of staged.slice(placed.length)) await output.discard().catch(() => {});
      throw failures.length === 0 ? err : rollbackError(err, failures);
    }
    // What the destinations held before is only a leftover now; failing to remove it is no failure.
    for (const { placed: p } of placed) await p.keep().catch(() => {});
  }

  async discard(): Promise<void> {
    for (const output of this.take()) await output.discard().catch(() => {});
    this.streams = [];
  }

  private take(): StagedOutput[] {
    const staged = this.staged;
    this.staged = [];
    return staged;
  }
}

function describe(dest: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return `${dest} (${code})`;
}

/** Taking an output back failed: the user must know which destination was left changed. */
function rollbackError(cause: unknown, failures: string[]): BuildError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new BuildError(
    'OUTPUT_ROLLBACK_FAILED',
    `${message}; and these outputs could not be put back as they were: ${failures.join(', ')}`,
    { hint: 'check these destinations by hand', cause },
  );
}
