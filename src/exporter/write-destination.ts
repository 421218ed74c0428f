import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BuildError } from '../errors.js';
import type { ExportContext } from './export-context.js';

/**
 * Writes an archive to a temp file beside `dest`, renamed into place when all outputs succeeded,
 * or to stdout for `-` (which cannot be taken back, so it is written last by the caller).
 */
export async function writeToDestination(
  dest: string,
  ctx: ExportContext,
  write: (out: Writable) => Promise<unknown>,
): Promise<void> {
  if (dest === '-') {
    await write(process.stdout).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
      throw new BuildError(
        'OUTPUT_STDOUT_CLOSED',
        'the reader of stdout closed it before the end',
        {
          hint: 'the program kiln writes to (`| ...`) stopped reading; the output is incomplete',
          cause: err,
        },
      );
    });
    return;
  }
  const dir = path.dirname(dest);
  await fsp.mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw outputError(dest, err);
  });
  const tmp = path.join(dir, `.${path.basename(dest)}.${randomBytes(4).toString('hex')}.tmp`);
  // Opening first turns an unwritable directory into an error here, not an unhandled event.
  const handle = await fsp.open(tmp, 'wx').catch((err: unknown) => {
    throw outputError(dest, err);
  });
  const out = handle.createWriteStream();
  try {
    await write(out);
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  ctx.staging.stage(
    () => fsp.rename(tmp, dest),
    () => fsp.rm(tmp, { force: true }),
  );
}

/** An output that cannot be written is the user's to fix: a clear message, no stack. */
export function outputError(dest: string, err: unknown): BuildError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
  return new BuildError('OUTPUT_UNWRITABLE', `cannot write the output ${dest}: ${code}`, {
    hint: 'check that its directory exists and is writable, and that it is not a directory',
    cause: err,
  });
}
