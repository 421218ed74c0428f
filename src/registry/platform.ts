/**
 * Platforms as the registry client sees them. The rules live in src/image/platform.ts; this file
 * only names the check the index resolution needs.
 */
import type { Platform } from '../image/oci-types.js';
import { platformMatchRank } from '../image/platform.js';

export type { Platform } from '../image/oci-types.js';
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
} from '../image/platform.js';

/** Whether `candidate` (from an index) can serve the wanted platform. */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  return platformMatchRank(wanted, candidate) !== undefined;
}
