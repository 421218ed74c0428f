import { createHash } from 'node:crypto';
import { BuildError } from '../errors.js';
import { MediaType } from '../image/media-types.js';
import type { Descriptor, Manifest } from '../image/oci-types.js';
import type { StepRecord } from './step-record.js';

/** The manifest's artifactType: what tells a kiln cache export apart from an image. */
export const CACHE_ARTIFACT_TYPE = 'application/vnd.kiln.cache.v1';
/** The config blob: the list of step records. */
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.kiln.cache.config.v1+json';

/** One step record as exported: what docs/cache-format.md describes. */
export interface ExportedRecord {
  key: string;
  parent?: string;
  created: string;
  layer?: { diffId: string; digest: string; size: number; mediaType: string };
}

export interface CacheConfig {
  version: 1;
  records: ExportedRecord[];
}

/** A cache export ready to write: config bytes, manifest bytes and the layer descriptors. */
export interface CacheArtifact {
  config: { descriptor: Descriptor; bytes: Buffer };
  manifest: { descriptor: Descriptor; bytes: Buffer };
  layers: Descriptor[];
}

/**
 * The records `--cache-to` exports. mode=min keeps the chain of the exported image's own steps
 * (followed through `parent` from the result's key, across stage bases); mode=max every record
 * this build hit or wrote, including stages that only fed COPY --from.
 */
export function selectRecords(
  used: StepRecord[],
  mode: 'min' | 'max',
  resultKey: string,
): StepRecord[] {
  if (mode === 'max') return used;
  const byKey = new Map(used.map((r) => [r.key, r]));
  const chain: StepRecord[] = [];
  for (let r = byKey.get(resultKey); r; r = r.parent ? byKey.get(r.parent) : undefined) {
    chain.unshift(r);
    if (chain.length > byKey.size) break;
  }
  return chain;
}

/** Builds the OCI manifest (a kiln artifactType and config) whose layers are the layer blobs. */
export function buildCacheArtifact(records: StepRecord[]): CacheArtifact {
  const config: CacheConfig = { version: 1, records: records.map(exportedRecord) };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDescriptor = descriptorOf(CACHE_CONFIG_MEDIA_TYPE, configBytes);

  const layers = new Map<string, Descriptor>();
  for (const r of config.records) {
    if (!r.layer) continue;
    const { mediaType, digest, size } = r.layer;
    layers.set(digest, { mediaType, digest, size });
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: configDescriptor,
    layers: [...layers.values()],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    config: { descriptor: configDescriptor, bytes: configBytes },
    manifest: {
      descriptor: descriptorOf(MediaType.ociManifest, manifestBytes),
      bytes: manifestBytes,
    },
    layers: manifest.layers,
  };
}

/** Checks that a manifest is a kiln cache export and returns its config descriptor. */
export function cacheConfigDescriptor(manifestBytes: Buffer, where: string): Descriptor {
  let manifest: Partial<Manifest>;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as Partial<Manifest>;
  } catch {
    throw notCache(where, 'the manifest is not JSON');
  }
  if (manifest.config?.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw notCache(where, `its config media type is ${manifest.config?.mediaType ?? 'missing'}`);
  }
  return manifest.config;
}

/** Parses a cache config blob; records that do not have the documented shape are dropped. */
export function parseCacheConfig(bytes: Buffer, where: string): ExportedRecord[] {
  let config: Partial<CacheConfig>;
  try {
    config = JSON.parse(bytes.toString('utf8')) as Partial<CacheConfig>;
  } catch {
    throw notCache(where, 'the config is not JSON');
  }
  if (config.version !== 1 || !Array.isArray(config.records)) {
    throw notCache(where, `unsupported cache config version ${String(config.version)}`);
  }
  return config.records.filter(isExportedRecord);
}

/** An exported record as a local record whose blob lives in `sourceRepository` (if any). */
export function importedRecord(r: ExportedRecord, sourceRepository?: string): StepRecord {
  return {
    key: r.key,
    ...(r.parent ? { parent: r.parent } : {}),
    created: r.created,
    ...(r.layer
      ? { layer: { ...r.layer, snapshotId: '', ...(sourceRepository ? { sourceRepository } : {}) } }
      : {}),
  };
}

function exportedRecord(r: StepRecord): ExportedRecord {
  return {
    key: r.key,
    ...(r.parent ? { parent: r.parent } : {}),
    created: r.created,
    ...(r.layer
      ? {
          layer: {
            diffId: r.layer.diffId,
            digest: r.layer.digest,
            size: r.layer.size,
            mediaType: r.layer.mediaType,
          },
        }
      : {}),
  };
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function isExportedRecord(value: unknown): value is ExportedRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<ExportedRecord>;
  if (typeof r.key !== 'string' || !DIGEST.test(r.key) || typeof r.created !== 'string') {
    return false;
  }
  if (r.parent !== undefined && typeof r.parent !== 'string') return false;
  if (r.layer === undefined) return true;
  const l = r.layer;
  return (
    typeof l === 'object' &&
    DIGEST.test(String(l.diffId)) &&
    DIGEST.test(String(l.digest)) &&
    Number.isSafeInteger(l.size) &&
    typeof l.mediaType === 'string'
  );
}

function descriptorOf(mediaType: string, bytes: Buffer): Descriptor {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return { mediaType, digest, size: bytes.length };
}

function notCache(where: string, why: string): BuildError {
  return new BuildError('CACHE_IMPORT_INVALID', `${where} is not a kiln cache export: ${why}`);
}
