import type { Platform } from '../../image/oci-types.js';
import { formatPlatform, hostPlatform } from '../../image/platform.js';

/**
 * The automatic platform ARGs. They are in the global scope (usable in FROM); inside a stage an
 * `ARG TARGETARCH` without a value takes the global value, as BuildKit documents.
 */
export function platformArgs(target: Platform): [string, string][] {
  const build = hostPlatform();
  return [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
  ];
}
