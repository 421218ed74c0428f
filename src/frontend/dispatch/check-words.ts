/**
 * Checks of single words that can be made while planning, so their errors point at the word in
 * the Dockerfile instead of coming up later, from a step, with no location: image references,
 * and --chmod values. The workers check the same things
 * again; these only move the failure earlier and give it a place.
 */

import { KilnError, type SourceLocation, withLocation } from '../../errors.js';
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

/** Whether a COPY/ADD source climbs above its root with `..` (checked lexically). */
export function climbsAboveRoot(source: string): boolean {
  let depth = 0;
  for (const part of source.split('/')) {
    if (part === '' || part === '.') continue;
    depth += part === '..' ? -1 : 1;
    if (depth < 0) return true;
  }
  return false;
}
