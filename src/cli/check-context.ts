import * as fsp from 'node:fs/promises';
import { InputError } from '../errors.js';
import type { BuildRequest } from '../solver/build-request.js';

/**
 * The build context must be a directory that exists, checked before anything is built: a file
 * or a mistyped path is a usage error (exit 2), not a system error from deep in the build.
 * A context read from stdin has no path yet.
 */
export async function checkContext(request: BuildRequest): Promise<void> {
  if (request.contextFromStdin) return;
  const dir = request.contextDir;
  const info = await fsp.stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (info instanceof Error) {
    if (info.code !== 'ENOENT' && info.code !== 'ENOTDIR') return;
    throw new InputError('CONTEXT_NOT_FOUND', `the build context ${dir} does not exist`, {
      hint: 'give the directory that holds the files the Dockerfile copies',
    });
  }
  if (!info.isDirectory()) {
    throw new InputError('CONTEXT_NOT_DIRECTORY', `the build context ${dir} is not a directory`, {
      hint: 'give the directory that holds the files the Dockerfile copies (use -f for the Dockerfile)',
    });
  }
}
