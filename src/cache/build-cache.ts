import * as fs from 'node:fs';
import { BuildError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { RegistryClient } from '../registry/index.js';
import type { BlobStore } from './blob-store.js';
import { selectRecords } from './cache-format.js';
import {
  type CacheSpec,
  type CacheTransferContext,
  describeCache,
  exportCache,
  importCache,
} from './cache-transfer.js';
import { ContextHasher } from './context-hasher.js';
import type { RecordStore } from './record-store.js';
import { StatCache } from './stat-cache.js';
import type { StepRecord } from './step-record.js';

export interface BuildCacheOptions {
  cacheDir: string;
  contextDir: string;
  cacheFrom: CacheSpec[];
  cacheTo: CacheSpec[];
  noCache: boolean;
  ignore: (rel: string) => boolean;
}

type LayerRef = Pick<NonNullable<StepRecord['layer']>, 'digest' | 'size' | 'sourceRepository'>;

/**
 * The cache's part in one build: context hashing with the stat cache, `--cache-from` imports
 * before solving, `--cache-to` exports after, and the blobs of imported records on demand.
 */
export class BuildCache {
  private hasher: Promise<ContextHasher> | undefined;
  private readonly localBlobs = new Map<string, string>();
  private readonly fetches = new Map<string, Promise<void>>();

  constructor(
    private readonly options: BuildCacheOptions,
    private readonly bus: EventBus,
    private readonly blobs: BlobStore,
    private readonly records: RecordStore,
    private readonly client: RegistryClient,
  ) {}

  /** The content digest of COPY sources in the context (see ContextHasher). */
  async hashContext(sources: string[], parents = false): Promise<string> {
    this.hasher ??= StatCache.load(this.options.cacheDir, this.options.contextDir).then(
      (statCache) => new ContextHasher(this.options.contextDir, this.options.ignore, { statCache }),
    );
    return (await this.hasher).hash(sources, parents);
  }

  /**
   * Reads every `--cache-from` export's record list. An export that is missing or unreadable
   * only warns, as in BuildKit: the build runs the steps instead.
   */
  async importAll(): Promise<void> {
    if (this.options.noCache) return;
    await Promise.all(
      this.options.cacheFrom.map(async (spec, i) => {
        const where = describeCache(spec);
        await this.step(`cache-import-${i}`, `importing cache from ${where}`, async () => {
          try {
            const imported = await importCache(spec, { client: this.client });
            this.records.addImported(imported.records);
            for (const [digest, file] of imported.localBlobs) this.localBlobs.set(digest, file);
          } catch (err) {
            const why = err instanceof Error ? err.message : String(err);
            this.bus.emit({
              type: 'warning',
              message: `cannot import cache from ${where}: ${why}`,
            });
          }
        });
      }),
    );
  }

  /** Writes every `--cache-to` export: the records of this build leading to `resultKey`. */
  async exportAll(resultKey: string, signal: AbortSignal): Promise<void> {
    const used = this.records.usedRecords();
    const ctx: CacheTransferContext = {
      bus: this.bus,
      blobs: this.blobs,
      client: this.client,
      fetchBlob: (layer) => this.fetchBlob(layer),
      signal,
    };
    for (const [i, spec] of this.options.cacheTo.entries()) {
      const records = selectRecords(used, spec.mode, resultKey);
      const name = `exporting cache to ${describeCache(spec)}`;
      await this.step(`cache-export-${i}`, name, () => exportCache(spec, records, ctx));
    }
  }

  /**
   * Brings the blob of an imported layer into the blob store: copied from a local export, or
   * downloaded from the cache's repository. Returns false when no import knows the blob.
   */
  async fetchImported(digest: string, size: number): Promise<boolean> {
    if (!this.localBlobs.has(digest)) return false;
    await this.fetchBlob({ digest, size });
    return true;
  }

  /** Saves what the stat cache learned. */
  async close(): Promise<void> {
    await (await this.hasher)?.save();
  }

  private fetchBlob(layer: LayerRef): Promise<void> {
    let fetch = this.fetches.get(layer.digest);
    if (!fetch) {
      fetch = this.download(layer);
      fetch.catch(() => this.fetches.delete(layer.digest));
      this.fetches.set(layer.digest, fetch);
    }
    return fetch;
  }

  private async download(layer: LayerRef): Promise<void> {
    if (await this.blobs.has(layer.digest)) return;
    const file = this.localBlobs.get(layer.digest);
    if (file) {
      await this.blobs.putStream(fs.createReadStream(file), layer.digest);
      return;
    }
    if (!layer.sourceRepository) {
      throw new BuildError(
        'CACHE_BLOB_MISSING',
        `blob ${layer.digest} is neither in the cache nor in a cache import`,
      );
    }
    const tmp = this.blobs.tempPath();
    await this.client.downloadBlob(layer.sourceRepository, layer.digest, tmp, layer.size);
    await this.blobs.adopt(tmp, layer.digest);
  }

  private async step(id: string, name: string, fn: () => Promise<void>): Promise<void> {
    const started = Date.now();
    this.bus.emit({ type: 'step', id, name, status: 'started' });
    try {
      await fn();
    } catch (err) {
      this.bus.emit({ type: 'step', id, name, status: 'error', duration_ms: Date.now() - started });
      throw err;
    }
    this.bus.emit({ type: 'step', id, name, status: 'done', duration_ms: Date.now() - started });
  }
}
