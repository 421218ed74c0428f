import * as path from 'node:path';
import type { ResultFile } from '../exporter/result-file.js';

/**
 * `--metadata-file` and `--iidfile`. They are written with the outputs, only when the build
 * succeeded; their directory must exist, as buildx wants.
 */
export function buildResultFiles(
  metadataFile: string | undefined,
  iidfile: string | undefined,
): ResultFile[] {
  const files: ResultFile[] = [];
  if (metadataFile) {
    files.push({
      flag: '--metadata-file',
      path: path.resolve(metadataFile),
      content: (outcome) => {
        const metadata: Record<string, unknown> = {};
        if (outcome.manifestDigest) metadata['containerimage.digest'] = outcome.manifestDigest;
        if (outcome.configDigest) metadata['containerimage.config.digest'] = outcome.configDigest;
        if (outcome.descriptor) metadata['containerimage.descriptor'] = outcome.descriptor;
        if (outcome.names.length > 0) metadata['image.name'] = outcome.names.join(',');
        return `${JSON.stringify(metadata, null, 2)}\n`;
      },
    });
  }
  if (iidfile) {
    files.push({
      flag: '--iidfile',
      path: path.resolve(iidfile),
      content: (outcome) => outcome.configDigest,
    });
  }
  return files;
}
