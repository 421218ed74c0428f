/** The manifest media types the registry client asks for; the constants live in src/image. */
import { MediaType } from '../image/media-types.js';

export const OCI_MANIFEST = MediaType.ociManifest;
export const OCI_INDEX = MediaType.ociIndex;
export const DOCKER_MANIFEST = MediaType.dockerManifest;
export const DOCKER_MANIFEST_LIST = MediaType.dockerManifestList;

/**
 * What kiln accepts for a manifest. distribution 2.8 serves an OCI manifest only to a client that
 * lists the OCI type in `Accept`; without it the registry answers MANIFEST_UNKNOWN.
 */
export const MANIFEST_ACCEPT: readonly string[] = [
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
];

export { isIndexMediaType, isManifestMediaType } from '../image/media-types.js';
