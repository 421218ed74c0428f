/**
 * A client for the OCI distribution API: manifests and blobs, pull and push. One instance holds the
 * connection pools, the scheme decisions and the token cache; it is safe to use from many
 * concurrent tasks (parallel layer transfers are the caller's choice). Pulls from docker.io try the
 * configured mirrors first and fall back to Docker Hub.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as stream from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NetworkError, RegistryError } from '../errors.js';
import { Authenticator, repositoryScope } from './authenticator.js';
import {
  checkPushAccess,
  type PushBlobOptions,
  type PushBlobResult,
  pushBlob,
} from './blob-upload.js';
import { type CredentialProvider, FileCredentialProvider } from './credentials.js';
import { DigestVerifier, digestOf } from './digest-verifier.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import type { Platform } from './platform.js';
import {
  DOCKER_HUB,
  formatReference,
  type ImageReference,
  parseReference,
  repositoryName,
} from './reference.js';
import { digestMismatch, statusError, transportError } from './registry-errors.js';
import { type CallRequest, RegistryHttp, type RetryInfo } from './registry-http.js';
import { type ResolvedImage, resolveImage } from './resolve-image.js';
import { DEFAULT_RETRY, isNetworkError, type RetryPolicy } from './retry.js';
import { header, RegistryTransport, type TransportOptions } from './transport.js';

export interface RegistryClientOptions extends TransportOptions {
  credentials?: CredentialProvider;
  /** Mirrors for docker.io pulls: `HOST[:PORT]` or `http(s)://HOST[:PORT]`. */
  mirrors?: string[];
  retry?: Partial<RetryPolicy>;
  /** Blobs larger than this go up in PATCH chunks of `chunkSize` bytes. */
  chunkThreshold?: number;
  chunkSize?: number;
  onRetry?: (info: RetryInfo) => void;
}

export interface ManifestResponse {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** A repository: an ImageReference (tag and digest ignored) or its text form. */
export type RepositoryLike = Pick<ImageReference, 'registry' | 'repository'> | string;

/** Manifests larger than this are refused rather than buffered (distribution caps at 4 MiB). */
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
/** Tries of a blob download whose body is cut off mid-way. */
const BLOB_BODY_ATTEMPTS = 3;
const DEFAULT_CHUNK_THRESHOLD = 64 * 1024 * 1024;
const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

function toRepository(repo: RepositoryLike): Pick<ImageReference, 'registry' | 'repository'> {
  return typeof repo === 'string' ? parseReference(repo, { defaultTag: false }) : repo;
}

function mediaTypeOf(res: { headers: Record<string, unknown> }, bytes: Buffer): string {
  const fromHeader = String(res.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim();
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof parsed.mediaType === 'string' && parsed.mediaType !== '') return parsed.mediaType;
  } catch {
    // Not JSON: the header is all there is; the caller's parser will report the content.
  }
  return fromHeader;
}

export class RegistryClient {
  readonly http: RegistryHttp;
  private readonly mirrors: string[];
  private readonly chunkThreshold: number;
  private readonly chunkSize: number;

  constructor(options: RegistryClientOptions = {}) {
    const transport = new RegistryTransport(options);
    const credentials = options.credentials ?? new FileCredentialProvider();
    const auth = new Authenticator(credentials, transport);
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    this.http = new RegistryHttp(transport, auth, retry, options.onRetry);
    this.mirrors = (options.mirrors ?? []).map((m) => m.replace(/\/+$/, ''));
    this.chunkThreshold = options.chunkThreshold ?? DEFAULT_CHUNK_THRESHOLD;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  }

  /** Fetches a manifest or index by digest (preferred) or tag; verifies the digest. */
  async getManifest(
    ref: ImageReference,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<ManifestResponse> {
    return this.fromPullEndpoints(ref.registry, (registry) =>
      this.getManifestFrom(registry, ref, accept),
    );
  }

  /** Follows an index to the manifest for `platform` (the caller passes the host's). */
  resolveImage(ref: ImageReference, platform: Platform): Promise<ResolvedImage> {
    return resolveImage(this, ref, platform);
  }

  /** The descriptor of a manifest (HEAD), or undefined when it does not exist. */
  async headManifest(
    ref: ImageReference,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<Descriptor | undefined> {
    const name = formatReference(ref);
    const { res } = await this.http.call({
      ...this.manifestRequest(ref.registry, ref, accept, 'HEAD'),
      what: 'check manifest',
      reference: name,
    });
    await res.body.dump();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await statusError(res, 'check manifest', name, ref.registry);
    const digest = header(res.headers, 'docker-content-digest') ?? ref.digest;
    if (!digest) {
      throw new RegistryError(
        'REGISTRY_REQUEST_FAILED',
        `check manifest ${name}: the registry sent no Docker-Content-Digest`,
        name,
      );
    }
    return {
      mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!,
      digest,
      size: Number(header(res.headers, 'content-length') ?? 0),
    };
  }

  /** Uploads a manifest under the reference's tag, or its digest when it has no tag. */
  async putManifest(ref: ImageReference, bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const name = formatReference(ref);
    const digest = digestOf(bytes, ref.digest ?? 'sha256:');
    if (ref.digest && ref.digest !== digest) throw digestMismatch(name, ref.digest, digest);
    const target = ref.tag ?? digest;
    const { res } = await this.http.call({
      registry: ref.registry,
      method: 'PUT',
      path: `/v2/${ref.repository}/manifests/${target}`,
      scopes: [repositoryScope(ref.repository, 'pull,push')],
      headers: { 'content-type': mediaType },
      body: bytes,
      what: 'push manifest',
      reference: name,
    });
    if (res.status !== 201 && res.status !== 200) {
      throw await statusError(res, 'push manifest', name, ref.registry);
    }
    await res.body.dump();
    return { mediaType, digest, size: bytes.length };
  }

  /** Whether the repository has the blob (HEAD). */
  async hasBlob(repo: RepositoryLike, digest: string): Promise<boolean> {
    const r = toRepository(repo);
    const name = `${repositoryName(r)}@${digest}`;
    const { res } = await this.http.call(this.blobRequest(r.registry, r, digest, 'HEAD', name));
    await res.body.dump();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await statusError(res, 'check blob', name, r.registry);
  }

  /**
   * Opens a blob as a stream. The stream checks the digest (and `size`, when given) at its end and
   * fails with REGISTRY_DIGEST_MISMATCH instead of ending normally.
   */
  async getBlob(repo: RepositoryLike, digest: string, size?: number): Promise<Readable> {
    const r = toRepository(repo);
    const name = `${repositoryName(r)}@${digest}`;
    return this.fromPullEndpoints(r.registry, async (registry) => {
      const { res } = await this.http.call(this.blobRequest(registry, r, digest, 'GET', name));
      if (res.status !== 200) throw await statusError(res, 'pull blob', name, registry);
      // pipeline() (unlike pipe()) carries a mid-body connection error into the verifier.
      return stream.pipeline(res.body, new DigestVerifier(digest, name, size), () => {});
    });
  }

  /**
   * Downloads a blob into `file` atomically: the content lands in a temporary sibling and is
   * renamed only after its digest checked out. Returns the size.
   */
  async downloadBlob(
    repo: RepositoryLike,
    digest: string,
    file: string,
    size?: number,
  ): Promise<number> {
    const r = toRepository(repo);
    const name = `${repositoryName(r)}@${digest}`;
    // A connection lost mid-body (a proxy or load balancer cutting it) is retried from the start,
    // as one lost before the headers is; what still fails names the blob and the registry.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.downloadOnce(repo, digest, file, size);
      } catch (err) {
        if (!isNetworkError(err) || err instanceof RegistryError) throw err;
        if (attempt >= BLOB_BODY_ATTEMPTS) throw transportError(err, 'pull blob', name, r.registry);
      }
    }
  }

  private async downloadOnce(
    repo: RepositoryLike,
    digest: string,
    file: string,
    size?: number,
  ): Promise<number> {
    const temp = path.join(
      path.dirname(file),
      `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.part`,
    );
    const body = await this.getBlob(repo, digest, size);
    let written = 0;
    body.on('data', (chunk: Buffer) => {
      written += chunk.length;
    });
    const out = fs.createWriteStream(temp, { flags: 'wx' });
    try {
      await pipeline(body, out);
      await fs.promises.rename(temp, file);
    } catch (err) {
      // A body that fails at once can end the pipeline before the file is even open; the
      // stream still opens (creating the file) and then closes, so wait for that before rm.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
      await fs.promises.rm(temp, { force: true });
      throw err;
    }
    return written;
  }

  /** Fails unless this client may push to the repository (see checkPushAccess). */
  checkPushAccess(repo: RepositoryLike, signal?: AbortSignal): Promise<void> {
    return checkPushAccess(this.http, toRepository(repo), signal);
  }

  /** Uploads a blob unless present; see PushBlobOptions for cross-repository mounts. */
  async pushBlob(
    repo: RepositoryLike,
    blob: { digest: string; size: number },
    open: () => Readable | Promise<Readable>,
    options: PushBlobOptions = {},
  ): Promise<PushBlobResult> {
    return pushBlob(this.http, toRepository(repo), blob, open, {
      chunkThreshold: this.chunkThreshold,
      chunkSize: this.chunkSize,
      ...options,
    });
  }

  /** All tags of a repository, following `Link` pagination. */
  async listTags(repo: RepositoryLike): Promise<string[]> {
    const r = toRepository(repo);
    const name = repositoryName(r);
    const tags: string[] = [];
    let next: string | undefined = `/v2/${r.repository}/tags/list`;
    while (next) {
      const { res, endpoint } = await this.http.call({
        registry: r.registry,
        method: 'GET',
        path: next,
        scopes: [repositoryScope(r.repository, 'pull')],
        what: 'list tags of',
        reference: name,
      });
      if (res.status !== 200) throw await statusError(res, 'list tags of', name, r.registry);
      tags.push(...(((await res.body.json()) as { tags?: string[] }).tags ?? []));
      const link = /<([^>]+)>;\s*rel="?next"?/.exec(header(res.headers, 'link') ?? '');
      next = link ? new URL(link[1]!, endpoint.origin).href : undefined;
    }
    return tags;
  }

  /** Closes the connection pools. */
  close(): Promise<void> {
    return this.http.transport.close();
  }

  private async getManifestFrom(
    registry: string,
    ref: ImageReference,
    accept: readonly string[],
  ): Promise<ManifestResponse> {
    const name = formatReference(ref);
    const { res } = await this.http.call({
      ...this.manifestRequest(registry, ref, accept, 'GET'),
      what: 'pull manifest',
      reference: name,
    });
    if (res.status !== 200) throw await statusError(res, 'pull manifest', name, registry);
    const length = Number(header(res.headers, 'content-length') ?? 0);
    if (length > MAX_MANIFEST_BYTES) {
      await res.body.dump();
      throw new RegistryError(
        'REGISTRY_MANIFEST_INVALID',
        `pull manifest ${name}: ${length} bytes is too large for a manifest`,
        name,
      );
    }
    let bytes: Buffer;
    try {
      bytes = await res.body.buffer(MAX_MANIFEST_BYTES);
    } catch (err) {
      if (err instanceof NetworkError && err.code === 'HTTP_BODY_TOO_LARGE') {
        throw new RegistryError(
          'REGISTRY_MANIFEST_INVALID',
          `pull manifest ${name}: more than ${MAX_MANIFEST_BYTES} bytes is too large for a manifest`,
          name,
        );
      }
      // A connection lost mid-body is a network failure like one lost before the headers.
      throw transportError(err, 'pull manifest', name, registry);
    }
    const expected = ref.digest ?? header(res.headers, 'docker-content-digest');
    const digest = digestOf(bytes, expected ?? 'sha256:');
    // By tag, the registry's header is a claim worth checking too: a proxy that rewrote the body
    // would otherwise go unnoticed.
    if (expected && expected !== digest) throw digestMismatch(name, expected, digest);
    return { bytes, mediaType: mediaTypeOf(res, bytes), digest };
  }

  private manifestRequest(
    registry: string,
    ref: ImageReference,
    accept: readonly string[],
    method: 'GET' | 'HEAD',
  ): Omit<CallRequest, 'what' | 'reference'> {
    const target = ref.digest ?? ref.tag ?? 'latest';
    return {
      registry,
      method,
      path: `/v2/${ref.repository}/manifests/${target}`,
      scopes: [repositoryScope(ref.repository, 'pull')],
      headers: { accept: accept.join(', ') },
    };
  }

  private blobRequest(
    registry: string,
    r: Pick<ImageReference, 'repository'>,
    digest: string,
    method: 'GET' | 'HEAD',
    name: string,
  ): CallRequest {
    return {
      registry,
      method,
      path: `/v2/${r.repository}/blobs/${digest}`,
      scopes: [repositoryScope(r.repository, 'pull')],
      followRedirects: true,
      what: method === 'GET' ? 'pull blob' : 'check blob',
      reference: name,
    };
  }

  /** Runs a pull against each mirror of docker.io in turn, then against the registry itself. */
  private async fromPullEndpoints<T>(
    registry: string,
    run: (registry: string) => Promise<T>,
  ): Promise<T> {
    const candidates = registry === DOCKER_HUB ? [...this.mirrors, registry] : [registry];
    let lastError: unknown;
    for (const candidate of candidates) {
      try {
        return await run(candidate);
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }
}
