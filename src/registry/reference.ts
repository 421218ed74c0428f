/**
 * Image references parsed and normalized the way Docker does: `ubuntu` is
 * `docker.io/library/ubuntu:latest`, the first path component is a registry only when it looks like
 * a host (has a `.` or `:`, or is `localhost`), repository paths are lower case, and a reference may
 * carry both a tag and a digest (the digest wins when pulling).
 */
import { InputError } from '../errors.js';

export const DOCKER_HUB = 'docker.io';
/** The name Docker's CLI has always used for Docker Hub in config.json. */
export const DOCKER_HUB_LEGACY_KEY = 'https://index.docker.io/v1/';

export interface ImageReference {
  /** The registry host as written, with its port: `docker.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  registry: string;
  /** The repository path inside the registry: `library/ubuntu`, `a/b`. */
  repository: string;
  tag?: string;
  digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT = /^[0-9]+$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[A-Fa-f0-9]{32,}$/;
const HEX64 = /^[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

function invalid(text: string, why: string): InputError {
  return new InputError('REFERENCE_INVALID', `invalid image reference "${text}": ${why}`);
}

function isDomain(text: string): boolean {
  let host = text;
  const colon = text.lastIndexOf(':');
  if (colon >= 0 && !text.endsWith(']')) {
    if (!PORT.test(text.slice(colon + 1))) return false;
    host = text.slice(0, colon);
  }
  if (IPV6.test(host)) return true;
  return host.split('.').every((label) => DOMAIN_LABEL.test(label));
}

/** Checks a digest string (`sha256:<64 hex>`); throws InputError naming `context` otherwise. */
export function validateDigest(digest: string, context: string = digest): void {
  if (!DIGEST.test(digest)) throw invalid(context, `"${digest}" is not a valid digest`);
  const [algorithm, hex] = digest.split(':') as [string, string];
  if (algorithm === 'sha256' && !HEX64.test(hex)) {
    throw invalid(context, 'a sha256 digest has 64 lower-case hexadecimal digits');
  }
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw invalid(context, `unsupported digest algorithm "${algorithm}"`);
  }
}

/** Splits `name[:tag][@digest]` at the digest and at the last colon after the last slash. */
function splitTagAndDigest(text: string): { name: string; tag?: string; digest?: string } {
  let name = text;
  let digest: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
  }
  let tag: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  return {
    name,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** Docker's rule for telling `host/repo` from `user/repo`. */
function splitRegistry(name: string): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const looksLikeHost =
    slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  if (!looksLikeHost) return { registry: DOCKER_HUB, repository: name };
  let registry = first;
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  return { registry, repository: name.slice(slash + 1) };
}

export interface ParseOptions {
  /** Add `latest` when the reference has neither tag nor digest (default true). */
  defaultTag?: boolean;
}

/** Parses and normalizes an image reference; throws InputError with the reason when invalid. */
export function parseReference(text: string, options: ParseOptions = {}): ImageReference {
  if (text === '') throw invalid(text, 'the reference is empty');
  if (text !== text.trim()) throw invalid(text, 'the reference has surrounding spaces');
  if (HEX64.test(text)) {
    throw invalid(text, 'a 64-character hexadecimal string is an image ID, not a name');
  }

  const { name, tag, digest } = splitTagAndDigest(text);
  if (name === '') throw invalid(text, 'the repository name is empty');
  const { registry, repository } = splitRegistry(name);
  if (!isDomain(registry)) throw invalid(text, `"${registry}" is not a valid registry host`);
  if (repository === '') throw invalid(text, 'the repository name is empty');
  if (repository.toLowerCase() !== repository) {
    throw invalid(text, 'the repository name must be lower case');
  }
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(text, `"${component}" is not a valid repository path component`);
    }
  }
  const fullRepository =
    registry === DOCKER_HUB && !repository.includes('/') ? `library/${repository}` : repository;
  if (`${registry}/${fullRepository}`.length > MAX_NAME_LENGTH) {
    throw invalid(text, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (tag !== undefined && !TAG.test(tag)) throw invalid(text, `"${tag}" is not a valid tag`);
  if (digest !== undefined) validateDigest(digest, text);

  const ref: ImageReference = { registry, repository: fullRepository };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined && options.defaultTag !== false) ref.tag = 'latest';
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `registry/repository`, the fully qualified repository name. */
export function repositoryName(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

function suffix(ref: ImageReference): string {
  return (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest ? `@${ref.digest}` : '');
}

/** The fully qualified form: `docker.io/library/ubuntu:latest`. */
export function formatReference(ref: ImageReference): string {
  return repositoryName(ref) + suffix(ref);
}

/** The short form Docker prints: `ubuntu:latest`, `user/app:1`, `127.0.0.1:5000/a:b`. */
export function familiarName(ref: ImageReference): string {
  let name = repositoryName(ref);
  if (ref.registry === DOCKER_HUB) {
    const rest = ref.repository.slice('library/'.length);
    name = ref.repository.startsWith('library/') && !rest.includes('/') ? rest : ref.repository;
  }
  return name + suffix(ref);
}

/** The same repository with another tag or digest (digest replaces both when given alone). */
export function withTagOrDigest(
  ref: ImageReference,
  change: { tag?: string; digest?: string },
): ImageReference {
  const next: ImageReference = { registry: ref.registry, repository: ref.repository };
  if (change.tag !== undefined) next.tag = change.tag;
  if (change.digest !== undefined) next.digest = change.digest;
  return next;
}
