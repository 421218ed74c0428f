import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import type { EventBus } from '../events/event-bus.js';
import { MediaType } from '../image/media-types.js';
import { OciLayout } from '../image/oci-layout.js';
import {
  formatReference,
  parseReference,
  type RegistryClient,
  repositoryName,
} from '../registry/index.js';
import type { BlobStore } from './blob-store.js';
import {
  buildCacheArtifact,
  cacheConfigDescriptor,
  importedRecord,
  parseCacheConfig,
} from './cache-format.js';
import type { StepRecord } from './step-record.js';

/** Where a cache export lives (the shape of BuildRequest's cacheFrom/cacheTo entries). */
export type CacheSpec =
  | { type: 'registry'; ref: string; mode: 'min' | 'max' }
  | { type: 'local'; dir: string; mode: 'min' | 'max' };

/** The ref name a local cache export is listed under in its index.json. */
export const LOCAL_CACHE_REF = 'latest';

export interface CacheTransferContext {
  bus: EventBus;
  blobs: BlobStore;
  client: RegistryClient;
  /** Brings a record's layer blob into the blob store (it may have come from an import). */
  fetchBlob(layer: NonNullable<StepRecord['layer']>): Promise<void>;
  signal: AbortSignal;
}

/** Where an imported record's blob is, when it is not in a registry: a local export dir. */
export type BlobLocations = Map<string, string>;

/** What `--cache-from` brought: records (registry ones name their repository) and local blobs. */
export interface ImportedCache {
  records: StepRecord[];
  /** Layer digest -> file inside a `type=local` export. */
  localBlobs: BlobLocations;
}

/** Describes a cache spec for step names and messages. */
export function describeCache(spec: CacheSpec): string {
  return spec.type === 'registry' ? spec.ref : spec.dir;
}

/**
 * Reads the record list of one export. Layer blobs are not downloaded here: a hit fetches its
 * blob lazily (or a push mounts it from the cache repository).
 */
export async function importCache(
  spec: CacheSpec,
  ctx: Pick<CacheTransferContext, 'client'>,
): Promise<ImportedCache> {
  if (spec.type === 'local') {
    const layout = await openExisting(spec.dir);
    const descriptor = await layout.resolve(LOCAL_CACHE_REF);
    if (!descriptor) return { records: [], localBlobs: new Map() };
    const where = `${spec.dir}:${LOCAL_CACHE_REF}`;
    const config = cacheConfigDescriptor(await layout.readBlob(descriptor.digest), where);
    const exported = parseCacheConfig(await layout.readBlob(config.digest), where);
    const localBlobs: BlobLocations = new Map();
    for (const r of exported)
      if (r.layer) localBlobs.set(r.layer.digest, layout.blobPath(r.layer.digest));
    return { records: exported.map((r) => importedRecord(r)), localBlobs };
  }

  const ref = parseReference(spec.ref);
  const where = formatReference(ref);
  const manifest = await ctx.client.getManifest(ref, [MediaType.ociManifest]);
  const config = cacheConfigDescriptor(manifest.bytes, where);
  const body = await ctx.client.getBlob(ref, config.digest, config.size);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const repository = repositoryName(ref);
  const exported = parseCacheConfig(Buffer.concat(chunks), where);
  return { records: exported.map((r) => importedRecord(r, repository)), localBlobs: new Map() };
}

/**
 * Writes the records and their layer blobs as one export: to a registry (layers, then config,
 * then the manifest by tag, so the tag never names missing blobs) or to an OCI layout directory.
 */
export async function exportCache(
  spec: CacheSpec,
  records: StepRecord[],
  ctx: CacheTransferContext,
): Promise<void> {
  const artifact = buildCacheArtifact(records);
  const layers = records.flatMap((r) => (r.layer ? [r.layer] : []));
  const unique = [...new Map(layers.map((l) => [l.digest, l])).values()];

  if (spec.type === 'local') {
    const layout = await OciLayout.open(spec.dir);
    for (const layer of unique) {
      await ctx.fetchBlob(layer);
      await layout.putBlobFile(ctx.blobs.pathOf(layer.digest), layer.digest, { verified: true });
    }
    await layout.putBlob(artifact.config.bytes);
    await layout.putBlob(artifact.manifest.bytes);
    await layout.addManifest(artifact.manifest.descriptor, [LOCAL_CACHE_REF]);
    return;
  }

  const ref = parseReference(spec.ref);
  const repo = repositoryName(ref);
  await Promise.all(unique.map((layer) => pushLayer(layer, ref.registry, repo, ctx)));
  await ctx.client.pushBlob(repo, artifact.config.descriptor, () =>
    Readable.from([artifact.config.bytes]),
  );
  await ctx.client.putManifest(ref, artifact.manifest.bytes, MediaType.ociManifest);
}

async function pushLayer(
  layer: NonNullable<StepRecord['layer']>,
  registry: string,
  repo: string,
  ctx: CacheTransferContext,
): Promise<void> {
  const source = layer.sourceRepository;
  const mountFrom =
    source?.startsWith(`${registry}/`) === true ? source.slice(registry.length + 1) : undefined;
  const open = async (): Promise<Readable> => {
    await ctx.fetchBlob(layer);
    return fs.createReadStream(ctx.blobs.pathOf(layer.digest));
  };
  await ctx.client.pushBlob(repo, layer, open, {
    ...(mountFrom && mountFrom !== repo.slice(registry.length + 1) ? { mountFrom } : {}),
    signal: ctx.signal,
  });
}

async function openExisting(dir: string): Promise<OciLayout> {
  await fs.promises.access(`${dir}/index.json`);
  return OciLayout.open(dir);
}
