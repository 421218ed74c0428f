/**
 * Where a step's failure points. The step knows where some words of its instruction are written
 * (the COPY sources, the --from image); a failure about one of them points at that word, any
 * other at the instruction.
 */

import { type KilnError, NetworkError, RegistryError, type SourceLocation } from '../errors.js';
import type { Vertex } from '../graph/plan.js';

export interface StepPlace {
  location: SourceLocation;
  /** Said when the failure concerns a word whose meaning the user may not have intended. */
  hint?: string;
}

export function stepPlace(err: KilnError, vertex: Vertex): StepPlace {
  const words = vertex.words;
  if (err.subject !== undefined) {
    const hit = words?.sources?.find((s) => s.source === err.subject);
    if (hit !== undefined) return { location: hit.at };
  }
  const from = vertex.op.kind === 'copy' ? vertex.op.from : undefined;
  if (words?.from && from?.kind === 'image') {
    if (err instanceof RegistryError || err instanceof NetworkError) {
      return {
        location: words.from,
        hint: `no earlier stage is named "${from.ref}", so it was pulled as an image`,
      };
    }
  }
  return { location: vertex.location };
}
