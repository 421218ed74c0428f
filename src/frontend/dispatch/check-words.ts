/**
 * Checks of single words that can be made while planning, so their errors point at the word in
 * the Dockerfile instead of coming up later, from a step, with no location: image references,
 * --chmod values and sources that climb out of their root. The workers check the same things
 * again; these only move the failure earlier and give it a place.
 */

import { DockerfileError, KilnError, type SourceLocation, withLocation } from '../../errors.js';
import { parseReference } from '../../registry/reference.js';
import { parseChmod } from '../../worker/fileops/chmod-spec.js';

/** Runs `check`; a KilnError it throws without a location is given `at`. */
export function located<T>(at: SourceLocation, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof KilnError && err.location === undefined) throw withLocation(err, at);
    throw err;
  }
}

/** FROM, COPY --from and RUN --mount from= name an image when they name no stage. */
export function checkImageReference(ref: string, at: SourceLocation): void {
  located(at, () => parseReference(ref));
}

export function checkChmod(spec: string, at: SourceLocation): void {
  located(at, () => parseChmod(spec));
}

/** A COPY/ADD source may not climb out of the context (or stage) with `..`; checked lexically. */
export function checkInsideRoot(source: string, at: SourceLocation): void {
  let depth = 0;
  for (const part of source.split('/')) {
    if (part === '' || part === '.') continue;
    depth += part === '..' ? -1 : 1;
    if (depth < 0) {
      throw new DockerfileError(
        'COPY_OUTSIDE_CONTEXT',
        `forbidden path outside the build context: ${source}`,
        at,
      );
    }
  }
}
