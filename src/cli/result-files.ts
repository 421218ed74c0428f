import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { BuildOutcome } from '../solver/run-build.js';

/** Writes a file through a temp file and a rename, so readers never see half of it. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(4).toString('hex')}`,
  );
  await fsp.writeFile(tmp, data);
  await fsp.rename(tmp, file);
}

/** `--metadata-file` and `--iidfile`, written only after the build succeeded. */
export async function writeResultFiles(
  outcome: BuildOutcome,
  metadataFile: string | undefined,
  iidfile: string | undefined,
): Promise<void> {
  if (metadataFile) {
    const metadata: Record<string, unknown> = {};
    if (outcome.manifestDigest) metadata['containerimage.digest'] = outcome.manifestDigest;
    if (outcome.configDigest) metadata['containerimage.config.digest'] = outcome.configDigest;
    if (outcome.descriptor) metadata['containerimage.descriptor'] = outcome.descriptor;
    if (outcome.names.length > 0) metadata['image.name'] = outcome.names.join(',');
    await writeFileAtomic(path.resolve(metadataFile), `${JSON.stringify(metadata, null, 2)}\n`);
  }
  if (iidfile && outcome.configDigest) {
    await writeFileAtomic(path.resolve(iidfile), outcome.configDigest);
  }
}
