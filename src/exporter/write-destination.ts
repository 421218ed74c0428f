import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuildError } from '../errors.js';
import type { ExportContext } from './export-context.js';
import { fileTarget, mayWrite } from './file-target.js';
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
    // A write that fails (ENOSPC on a full disk) is an 'error' event while `write` may be waiting
    // for 'drain': listen from the start, or the event kills the process and nothing is cleaned.
    const failed = new Promise<never>((_, reject) => out.once('error', reject));
    failed.catch(() => {});
    try {
      await Promise.race([write(out), failed]);
      out.end();
      await Promise.race([finished(out), failed]);
    } catch (err) {
      out.destroy();
      throw err instanceof BuildError ? err : outputError(dest, err);
    }
  });
}

/**
 * Writes a file into a temp file beside `dest` (making missing parent directories, with `mode`
 * when given) and stages it to be renamed over `dest` (the final target of `dest`'s symbolic
 * links). A device or pipe, and an existing file kiln may write but not make a file beside, are
 * written in place instead, once every staged output is in place (as stdout is).
 */
export async function stageFile(
  dest: string,
  staging: OutputStaging,
  write: (handle: fsp.FileHandle) => Promise<void>,
  parentMode?: number,
): Promise<void> {
  const target = await fileTarget(dest).catch((err: unknown) => {
    throw outputError(dest, err);
  });
  if (target.kind === 'socket') {
    throw new BuildError('OUTPUT_WRITE_FAILED', `cannot write the output ${dest}: a socket`, {
      hint: 'give a file, a device or a pipe',
    });
  }
  if (target.kind === 'inPlace') {
    staging.stream((signal) => writeInPlace(target.path, write, signal));
    return;
  }
  const final = target.path;
  const made = await makeParents(path.dirname(final), parentMode).catch((err: unknown) => {
    throw outputError(dest, err);
  });
  const tmp = tempName(path.dirname(final), final, 'new');
  const discard = async (): Promise<void> => {
    await fsp.rm(tmp, { force: true });
    await removeMade(made);
  };
  try {
    // Opening first turns an unwritable directory into an error here, not an unhandled event.
    const handle = await fsp.open(tmp, 'wx').catch(async (err: unknown) => {
      // A file kiln may write in a directory it may not (/dev/termination-log as a user).
      if (made.length === 0 && (await isWritableFile(final))) return undefined;
      throw outputError(dest, err);
    });
    if (handle === undefined) {
      staging.stream((signal) => writeInPlace(final, write, signal));
      return;
    }
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
      placePath(tmp, final).then((placed) => ({
        undo: async () => {
          await placed.undo();
          await removeMade(made);
        },
        keep: placed.keep,
      })),
    discard,
  });
}

/** Opens an existing file (a device, a pipe, a file) and writes the output into it. */
async function writeInPlace(
  file: string,
  write: (handle: fsp.FileHandle) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const reader = (await fsp.stat(file).catch(() => undefined))?.isFIFO()
    ? await waitForReader(file, signal)
    : undefined;
  // 'w' truncates a regular file and is ignored by devices and pipes.
  const handle = await fsp.open(file, 'w').catch((err: unknown) => {
    throw outputError(file, err);
  });
  await reader?.close();
  try {
    await write(handle);
  } catch (err) {
    throw err instanceof BuildError ? err : outputError(file, err);
  } finally {
    await handle.close();
  }
}

/**
 * Waits until a pipe has a reader. A plain open(2) of a pipe nobody reads blocks in a thread
 * that no signal reaches, so an interrupted build could not stop; a non-blocking open fails with
 * ENXIO until a reader comes, and is polled instead. The handle it returns stays open until the
 * real one is: closing it first would show the reader an end of file before the output.
 */
async function waitForReader(file: string, signal?: AbortSignal): Promise<fsp.FileHandle> {
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await fsp.open(file, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw outputError(file, err);
    }
    await sleep(READER_POLL_MS, undefined, signal ? { signal } : undefined);
  }
}

const READER_POLL_MS = 100;

async function isWritableFile(file: string): Promise<boolean> {
  const info = await fsp.stat(file).catch(() => undefined);
  return info?.isFile() === true && (await mayWrite(file));
}

/** Syncs a regular file to disk; devices and pipes have nothing to sync (and some refuse). */
export async function syncFile(handle: fsp.FileHandle): Promise<void> {
  if ((await handle.stat()).isFile()) await handle.sync();
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
