import type { BuildOutcome } from '../solver/run-build.js';
import type { OutputStaging } from './output-staging.js';
import { stageFile, syncFile } from './write-destination.js';

/**
 * A small file that reports on the build (`--metadata-file`, `--iidfile`, kaniko's digest files).
 * It is staged and put in place with the outputs, so a failed build changes none of them.
 */
export interface ResultFile {
  /** The flag that asked for it, to name it in errors. */
  flag: string;
  /** An absolute path. */
  path: string;
  /** Its content for a build's outcome; undefined writes nothing. */
  content(outcome: BuildOutcome): string | undefined;
  /** Missing parent directories are made with this mode; without it they must exist. */
  parentMode?: number;
}

export async function stageResultFiles(
  outcome: BuildOutcome,
  files: readonly ResultFile[],
  staging: OutputStaging,
): Promise<void> {
  for (const file of files) {
    const content = file.content(outcome);
    if (content === undefined) continue;
    await stageFile(
      file.path,
      staging,
      async (handle) => {
        await handle.writeFile(content);
        await syncFile(handle);
      },
      file.parentMode,
    );
  }
}
