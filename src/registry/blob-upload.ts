/**
 * Blob push as the distribution spec describes it: HEAD first (skip when present), then an upload
 * session (POST), then either one monolithic PUT or, for large blobs, PATCH chunks and a closing
 * PUT. A cross-repository mount (`?mount=DIGEST&from=REPO`) is asked for when the caller names a
 * source repository on the same registry; the registry may still answer with a plain session.
 *
 * A failed upload request is never repeated on its own: distribution 2.8 ignores Content-Range, so a
 * repeated PATCH would append the same bytes twice. A transient failure restarts the whole upload
 * with a fresh session and a freshly opened stream, up to the retry bound.
 */
import { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import { repositoryScope } from './authenticator.js';
import type { ImageReference } from './reference.js';
import { repositoryName } from './reference.js';
import { digestMismatch, readErrorBody, statusError } from './registry-errors.js';
import type { CallRequest, RegistryHttp } from './registry-http.js';
import { backoffDelay, isRetryableStatus, sleep } from './retry.js';
import { type HttpResponse, header } from './transport.js';

export interface PushBlobOptions {
  /** A repository on the same registry that has the blob; asks the registry to mount it. */
  mountFrom?: string;
  chunkThreshold?: number;
  chunkSize?: number;
  signal?: AbortSignal;
}

export interface PushBlobResult {
  status: 'exists' | 'mounted' | 'uploaded';
}

type Repository = Pick<ImageReference, 'registry' | 'repository'>;

interface UploadContext {
  http: RegistryHttp;
  repo: Repository;
  blob: { digest: string; size: number };
  name: string;
  scopes: string[];
  signal: AbortSignal | undefined;
}

/** Raised inside one upload attempt when restarting the upload may help. */
class TransientUploadError extends Error {
  constructor(
    readonly reason: RegistryError,
    readonly retryAfterMs?: number,
  ) {
    super(reason.message);
  }
}

/** Hands out consecutive byte ranges of one source stream as separate request bodies. */
class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private leftover: Buffer | undefined;

  constructor(source: Readable) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  async *take(length: number): AsyncGenerator<Buffer> {
    let remaining = length;
    while (remaining > 0) {
      let chunk = this.leftover;
      this.leftover = undefined;
      if (!chunk) {
        const next = await this.iterator.next();
        if (next.done) return;
        chunk = Buffer.from(next.value);
      }
      if (chunk.length > remaining) {
        this.leftover = chunk.subarray(remaining);
        chunk = chunk.subarray(0, remaining);
      }
      remaining -= chunk.length;
      yield chunk;
    }
  }
}

function request(ctx: UploadContext, partial: Omit<CallRequest, 'what' | 'reference'>) {
  return ctx.http.call({ ...partial, what: 'push blob', reference: ctx.name, signal: ctx.signal });
}

async function failure(res: HttpResponse, ctx: UploadContext): Promise<Error> {
  if (isRetryableStatus(res.status)) {
    const error = await statusError(res, 'push blob', ctx.name, ctx.repo.registry);
    const retryAfter = header(res.headers, 'retry-after');
    return new TransientUploadError(error, retryAfter ? Number(retryAfter) * 1000 : undefined);
  }
  if (res.status === 400) {
    const detail = await readErrorBody(res);
    if (detail?.includes('DIGEST_INVALID')) {
      return digestMismatch(ctx.name, ctx.blob.digest, 'different content (rejected by registry)');
    }
    return new RegistryError(
      'REGISTRY_REQUEST_FAILED',
      `push blob ${ctx.name}: HTTP 400${detail ? ` (${detail})` : ''}`,
      ctx.name,
      400,
    );
  }
  return statusError(res, 'push blob', ctx.name, ctx.repo.registry);
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.href;
}

/** Starts a session (or mounts); resolves the upload URL, or undefined when mounted. */
async function startUpload(ctx: UploadContext, mountFrom?: string): Promise<string | undefined> {
  const query = mountFrom
    ? `?mount=${encodeURIComponent(ctx.blob.digest)}&from=${encodeURIComponent(mountFrom)}`
    : '';
  // Repeating a POST only leaves an unused session behind, so it may be retried.
  const { res, endpoint } = await request(ctx, {
    registry: ctx.repo.registry,
    method: 'POST',
    path: `/v2/${ctx.repo.repository}/blobs/uploads/${query}`,
    scopes: ctx.scopes,
    headers: { 'content-length': '0' },
    idempotent: true,
  });
  if (mountFrom && res.status === 201) {
    await res.body.dump();
    return undefined;
  }
  const location = header(res.headers, 'location');
  if (res.status !== 202 || !location) throw await failure(res, ctx);
  await res.body.dump();
  return new URL(location, endpoint.origin).href;
}

async function putMonolithic(ctx: UploadContext, location: string, source: Readable) {
  const { res } = await request(ctx, {
    registry: ctx.repo.registry,
    method: 'PUT',
    path: withDigest(location, ctx.blob.digest),
    scopes: ctx.scopes,
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(ctx.blob.size),
    },
    body: () => source,
    idempotent: false,
  });
  if (res.status !== 201) throw await failure(res, ctx);
  await res.body.dump();
}

async function putChunked(ctx: UploadContext, start: string, source: Readable, chunk: number) {
  const reader = new ChunkReader(source);
  let location = start;
  for (let offset = 0; offset < ctx.blob.size; offset += chunk) {
    const length = Math.min(chunk, ctx.blob.size - offset);
    const { res, endpoint } = await request(ctx, {
      registry: ctx.repo.registry,
      method: 'PATCH',
      path: location,
      scopes: ctx.scopes,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(length),
        'content-range': `${offset}-${offset + length - 1}`,
      },
      body: () => Readable.from(reader.take(length)),
      idempotent: false,
    });
    const next = header(res.headers, 'location');
    if (res.status !== 202 || !next) throw await failure(res, ctx);
    await res.body.dump();
    location = new URL(next, endpoint.origin).href;
  }
  const { res } = await request(ctx, {
    registry: ctx.repo.registry,
    method: 'PUT',
    path: withDigest(location, ctx.blob.digest),
    scopes: ctx.scopes,
    headers: { 'content-length': '0' },
    idempotent: false,
  });
  if (res.status !== 201) throw await failure(res, ctx);
  await res.body.dump();
}

/** Whether a failure inside an attempt is worth a fresh upload. */
function transient(err: unknown): TransientUploadError | undefined {
  if (err instanceof TransientUploadError) return err;
  if (err instanceof RegistryError && err.code === 'REGISTRY_UNREACHABLE') {
    return new TransientUploadError(err);
  }
  return undefined;
}

export async function pushBlob(
  http: RegistryHttp,
  repo: Repository,
  blob: { digest: string; size: number },
  open: () => Readable | Promise<Readable>,
  options: PushBlobOptions = {},
): Promise<PushBlobResult> {
  const name = `${repositoryName(repo)}@${blob.digest}`;
  const scopes = [repositoryScope(repo.repository, 'pull,push')];
  if (options.mountFrom) scopes.push(repositoryScope(options.mountFrom, 'pull'));
  const ctx: UploadContext = { http, repo, blob, name, scopes, signal: options.signal };

  const { res } = await request(ctx, {
    registry: repo.registry,
    method: 'HEAD',
    path: `/v2/${repo.repository}/blobs/${blob.digest}`,
    scopes,
  });
  await res.body.dump();
  if (res.status === 200) return { status: 'exists' };

  const threshold = options.chunkThreshold ?? Number.POSITIVE_INFINITY;
  const chunk = options.chunkSize ?? 16 * 1024 * 1024;
  for (let attempt = 1; ; attempt++) {
    let source: Readable | undefined;
    try {
      const location = await startUpload(ctx, options.mountFrom);
      if (location === undefined) return { status: 'mounted' };
      source = await open();
      if (blob.size > threshold) await putChunked(ctx, location, source, chunk);
      else await putMonolithic(ctx, location, source);
      return { status: 'uploaded' };
    } catch (err) {
      source?.destroy();
      const retry = transient(err);
      if (!retry || attempt > http.retry.retries) throw retry ? retry.reason : err;
      await sleep(backoffDelay(http.retry, attempt, retry.retryAfterMs), options.signal);
    }
  }
}

/**
 * Whether this client may push to `repo`, asked the way kaniko asks before it builds: open a blob
 * upload session (which needs the push right) and cancel it at once. Throws the registry's
 * refusal as an error that says a push was being checked.
 */
export async function checkPushAccess(
  http: RegistryHttp,
  repo: Repository,
  signal?: AbortSignal,
): Promise<void> {
  const name = repositoryName(repo);
  const call = (partial: Omit<CallRequest, 'what' | 'reference'>) =>
    http.call({ ...partial, what: 'check push access to', reference: name, signal });
  const scopes = [repositoryScope(repo.repository, 'pull,push')];
  const { res, endpoint } = await call({
    registry: repo.registry,
    method: 'POST',
    path: `/v2/${repo.repository}/blobs/uploads/`,
    scopes,
    headers: { 'content-length': '0' },
    idempotent: true,
  });
  const location = header(res.headers, 'location');
  if (res.status !== 202 || !location) {
    throw await statusError(res, 'check push access to', name, repo.registry);
  }
  await res.body.dump();
  // A session left open expires on its own; cancelling it is a courtesy that may fail.
  await call({
    registry: repo.registry,
    method: 'DELETE',
    path: new URL(location, endpoint.origin).href,
    scopes,
    idempotent: true,
  }).then(
    ({ res: deleted }) => deleted.body.dump(),
    () => {},
  );
}
