/** The registry client's public face: references, credentials, platforms and the client. */

export type { AuthChallenge } from './auth-challenge.js';
export { parseChallenges } from './auth-challenge.js';
export type { PushBlobOptions, PushBlobResult } from './blob-upload.js';
export {
  anonymous,
  type Credential,
  type CredentialProvider,
  FileCredentialProvider,
} from './credentials.js';
export { DigestVerifier, digestOf } from './digest-verifier.js';
export * from './media-types.js';
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  type Platform,
  parsePlatform,
  platformMatches,
} from './platform.js';
export {
  DOCKER_HUB,
  familiarName,
  formatReference,
  type ImageReference,
  parseReference,
  repositoryName,
  validateDigest,
  withTagOrDigest,
} from './reference.js';
export {
  type Descriptor,
  type ManifestResponse,
  RegistryClient,
  type RegistryClientOptions,
  type RepositoryLike,
} from './registry-client.js';
export type { RetryInfo } from './registry-http.js';
export { type IndexEntry, pickPlatform, type ResolvedImage } from './resolve-image.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
