import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BuildError } from '../errors.js';
import type { ExportContext } from './export-context.js';
import type { OutputStaging } from './output-staging.js';
import { makeParents, placePath, removeMade, tempName } from './place-path.js';

/**
 * Writes an archive to a temp file beside `dest`, put in place when all outputs succeeded, or to
 * stdout for `-`: that cannot be taken back, so it is written after every other output is in
 * place (see OutputStaging).
 */
export async function writeToDestination(
  dest: string,
  ctx: ExportContext,
  write: (out: Writable) => Promise<unknown>,
): Promise<void> {
  if (dest === '-') {
    ctx.staging.stream(() => writeStdout(write));
    return;
  }
  await stageFile(dest, ctx.staging, async (handle) => {
    // The stream closes the handle when it is done (stageFile's close is then a no-op).
    const out = handle.createWriteStream();
    try {
      await write(out);
      out.end();
      await finished(out);
    } catch (err) {
      out.destroy();
      throw err;
    }
  });
}

/**
 * Writes a file into a temp file beside `dest` (making missing parent directories, with `mode`
 * when given) and stages it to be renamed over `dest`.
 */
export async function stageFile(
  dest: string,
  staging: OutputStaging,
  write: (handle: fsp.FileHandle) => Promise<void>,
  parentMode?: number,
): Promise<void> {
  const made = await makeParents(path.dirname(dest), parentMode).catch((err: unknown) => {
    throw outputError(dest, err);
  });
  const tmp = tempName(path.dirname(dest), dest, 'new');
  const discard = async (): Promise<void> => {
    await fsp.rm(tmp, { force: true });
    await removeMade(made);
  };
  try {
    // Opening first turns an unwritable directory into an error here, not an unhandled event.
    const handle = await fsp.open(tmp, 'wx').catch((err: unknown) => {
      throw outputError(dest, err);
    });
    try {
      await write(handle);
    } finally {
      await handle.close();
    }
  } catch (err) {
    await discard();
    throw err;
  }
  staging.stage({
    dest,
    place: () =>
      placePath(tmp, dest).then((placed) => ({
        undo: async () => {
          await placed.undo();
          await removeMade(made);
        },
        keep: placed.keep,
      })),
    discard,
  });
}

async function writeStdout(write: (out: Writable) => Promise<unknown>): Promise<void> {
  await write(process.stdout).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
    throw new BuildError('OUTPUT_STDOUT_CLOSED', 'the reader of stdout closed it before the end', {
      hint: 'the program kiln writes to (`| ...`) stopped reading; the output is incomplete',
      cause: err,
    });
  });
}

/**
 * An output that could not be written while exporting (the checks before the build passed, so
 * something changed or ran out meanwhile): a clear message, no stack.
 */
export function outputError(dest: string, err: unknown): BuildError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
  return new BuildError('OUTPUT_WRITE_FAILED', `cannot write the output ${dest}: ${code}`, {
    hint: 'check that its directory exists and is writable and that the disk has room',
    cause: err,
  });
}
