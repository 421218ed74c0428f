import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { BuildError } from '../errors.js';
import { makeParents, removeMade, tempName } from './place-path.js';
import { outputError } from './write-destination.js';

/** Where a directory output is written before it goes in place, and how to drop it. */
export interface DirOutputStage {
  /** Whether DEST existed (then it is merged into, and the temp dir is inside it). */
  existed: boolean;
  /** The directory holding the temp dir: DEST when it existed, else its parent. */
  area: string;
  /** The temp directory the output is written to (not yet made). */
  tmp: string;
  /** Parent directories made for DEST, removed again when the output is dropped. */
  made: string[];
  /** Removes the temp directory and the parents made for it. */
  discard(): Promise<void>;
}

/**
 * Prepares a directory output (an OCI layout or a local filesystem): DEST must be a directory
 * when it exists; otherwise its missing parents are made now (and remembered, so a failed build
 * removes them) and the temp dir goes beside it, on the same file system for the final rename.
 */
export async function stageDirOutput(dest: string): Promise<DirOutputStage> {
  const existing = await fsp.stat(dest).catch(() => undefined);
  if (existing && !existing.isDirectory()) {
    throw new BuildError('OUTPUT_WRITE_FAILED', `cannot write the output ${dest}: not a directory`);
  }
  const made = existing
    ? []
    : await makeParents(path.dirname(dest)).catch((err: unknown) => {
        throw outputError(dest, err);
      });
  const area = existing ? dest : path.dirname(dest);
  const tmp = tempName(area, dest, 'new');
  return {
    existed: existing !== undefined,
    area,
    tmp,
    made,
    discard: async () => {
      await fsp.rm(tmp, { recursive: true, force: true });
      await removeMade(made);
    },
  };
}
