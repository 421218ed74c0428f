/**
 * From a reference to the one image manifest a build uses: a plain manifest is taken as it is; an
 * index (OCI or a Docker manifest list) is searched for the wanted platform and the chosen
 * manifest is fetched by digest. Attestation manifests carry the platform `unknown/unknown`, so
 * they never match.
 */
import { RegistryError } from '../errors.js';
import { platformMatchRank } from '../image/platform.js';
import { isIndexMediaType, MANIFEST_ACCEPT } from './media-types.js';
import { formatPlatform, type Platform } from './platform.js';
import { formatReference, type ImageReference, withTagOrDigest } from './reference.js';
import type { Descriptor, ManifestResponse, RegistryClient } from './registry-client.js';

export interface IndexEntry extends Descriptor {
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ResolvedImage {
  /** The reference pinned to the manifest's digest. */
  reference: ImageReference;
  manifest: ManifestResponse;
  /** The index the manifest was picked from, when there was one. */
  index?: ManifestResponse;
}

/** Nested indexes are allowed by the spec; stop after a few levels to avoid loops. */
const MAX_INDEX_DEPTH = 3;

function parseIndex(index: ManifestResponse, name: string): IndexEntry[] {
  try {
    const json = JSON.parse(index.bytes.toString('utf8')) as { manifests?: IndexEntry[] };
    if (!Array.isArray(json.manifests)) throw new Error('no manifests array');
    return json.manifests;
  } catch (err) {
    throw new RegistryError(
      'REGISTRY_MANIFEST_INVALID',
      `${name}: the index is not valid JSON with a manifests list`,
      name,
      undefined,
      err,
    );
  }
}

/** The entry of an index that serves the platform best (an exact variant before an older one). */
export function pickPlatform(entries: IndexEntry[], platform: Platform): IndexEntry | undefined {
  let best: IndexEntry | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  for (const entry of entries) {
    const rank = entry.platform ? platformMatchRank(platform, entry.platform) : undefined;
    if (rank !== undefined && rank < bestRank) {
      best = entry;
      bestRank = rank;
    }
  }
  return best;
}

export async function resolveImage(
  client: RegistryClient,
  ref: ImageReference,
  platform: Platform,
): Promise<ResolvedImage> {
  const name = formatReference(ref);
  let current = await client.getManifest(ref, MANIFEST_ACCEPT);
  let index: ManifestResponse | undefined;
  for (let depth = 0; isIndexMediaType(current.mediaType); depth++) {
    if (depth >= MAX_INDEX_DEPTH) {
      throw new RegistryError(
        'REGISTRY_MANIFEST_INVALID',
        `${name}: indexes nested more than ${MAX_INDEX_DEPTH} deep`,
        name,
      );
    }
    const entries = parseIndex(current, name);
    const entry = pickPlatform(entries, platform);
    if (!entry) {
      const available = entries
        .filter((e) => e.platform && e.platform.os !== 'unknown')
        .map((e) => formatPlatform(e.platform!));
      throw new RegistryError(
        'REGISTRY_PLATFORM_NOT_FOUND',
        `${name} has no image for ${formatPlatform(platform)}` +
          ` (available: ${available.length > 0 ? available.join(', ') : 'none'})`,
        name,
      );
    }
    index = current;
    current = await client.getManifest(withTagOrDigest(ref, { digest: entry.digest }));
  }
  return {
    reference: withTagOrDigest(ref, {
      ...(ref.tag ? { tag: ref.tag } : {}),
      digest: current.digest,
    }),
    manifest: current,
    ...(index ? { index } : {}),
  };
}
