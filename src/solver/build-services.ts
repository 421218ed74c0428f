import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BlobStore, corruptBlobError } from '../cache/blob-store.js';
import { BuildCache } from '../cache/build-cache.js';
import type { RecordStore } from '../cache/record-store.js';
import type { EventBus } from '../events/event-bus.js';
import type { ExportContext } from '../exporter/export-context.js';
import type { StagePlan, Vertex } from '../graph/plan.js';
import type { Platform } from '../image/oci-types.js';
import { hostPlatform, parsePlatform } from '../image/platform.js';
import { RegistryClient } from '../registry/index.js';
import { CacheMountStore } from '../worker/mounts/cache-mount-store.js';
import { rootIsHostRoot } from '../worker/sandbox/host-ids.js';
import { activeIsolation, xattrPrefixFor } from '../worker/sandbox/userns.js';
import type { XattrPrefix } from '../worker/snapshot/entry-from-stat.js';
import { SnapshotStore } from '../worker/snapshot/snapshot-store.js';
import { AddRemoteSources, atStep, splitAddSources } from './add-remote.js';
import type { BuildRequest } from './build-request.js';
import { cacheKey } from './cache-key.js';
import { snapshotIdFor } from './commit-layer.js';
import { type CopyRoot, executeCopy } from './exec-copy.js';
import { executeMkdir } from './exec-mkdir.js';
import { executeRun } from './exec-run.js';
import { ImageSource } from './image-source.js';
import { LayerSnapshots } from './layer-snapshots.js';
import { type LayerSource, type RunMountEnv, runMountDigest } from './run-mounts.js';
import { SandboxNeeded } from './sandbox-needed.js';
import type { SolverServices, StepOutput } from './solver.js';
import { type SourceDateEpoch, sourceDateEpochOf } from './source-date-epoch.js';
import type { LayerInfo, StageResult } from './stage-result.js';
import type { StepContext } from './step-context.js';
import { StepLogs } from './step-logs.js';

/** The engine's parts for one build, wired together: what the solver and exporters call. */
export class BuildServices implements SolverServices {
  readonly platform: Platform;
  readonly images: ImageSource;
  readonly noCache: boolean;
  readonly concurrency: number;
  readonly canExecute: boolean;
  readonly epoch: SourceDateEpoch | undefined;
  private readonly snapshots: SnapshotStore;
  private readonly layers: LayerSnapshots;
  private readonly xattrPrefix: XattrPrefix;
  private readonly scratchDir: string;
  private readonly cacheMounts: CacheMountStore;
  /** ADD's URLs and git repositories, fetched into the scratch dir. */
  private readonly addRemote: AddRemoteSources;
  private readonly logs: StepLogs;
  /** Context hashing, --cache-from imports, --cache-to exports. */
  readonly cache: BuildCache;

  constructor(
    private readonly request: BuildRequest,
    readonly bus: EventBus,
    private readonly blobs: BlobStore,
    readonly records: RecordStore,
    private readonly ignore: (rel: string) => boolean,
    options: { canExecute: boolean } = { canExecute: true },
  ) {
    this.canExecute = options.canExecute;
    this.platform = request.platform ? parsePlatform(request.platform) : hostPlatform();
    const client = new RegistryClient({
      insecure: request.insecureRegistries,
      mirrors: request.registryMirrors,
    });
    this.images = new ImageSource(client, blobs, bus);
    this.cache = new BuildCache({ ...request, ignore }, bus, blobs, records, client);
    this.noCache = request.noCache;
    this.concurrency = request.concurrency;
    this.epoch = sourceDateEpochOf(request, process.env, (message) =>
      bus.emit({ type: 'warning', message }),
    );
    this.snapshots = new SnapshotStore(request.cacheDir);
    this.xattrPrefix = xattrPrefixFor(activeIsolation() ?? 'chroot');
    this.layers = new LayerSnapshots(
      this.snapshots,
      blobs,
      this.xattrPrefix,
      (l) => this.fetchLayer(l),
      (message) => bus.emit({ type: 'warning', message }),
    );
    this.scratchDir = path.join(request.cacheDir, 'tmp', `build-${process.pid}-${Date.now()}`);
    this.cacheMounts = new CacheMountStore(request.cacheDir);
    this.addRemote = new AddRemoteSources(this.scratchDir);
    this.logs = new StepLogs(request.cacheDir, bus);
  }

  logPath(vertexId: string): string | undefined {
    return this.logs.pathOf(vertexId);
  }

  async fetchLayer(layer: LayerInfo): Promise<void> {
    const { digest, size } = layer.descriptor;
    const stored = await this.blobs.checkStored(digest, size);
    if (stored === 'present') return;
    // A damaged blob was removed: one from a registry or an imported cache is fetched again.
    if (await this.cache.fetchImported(digest, size)) return;
    if (!layer.sourceRepository) {
      if (stored === 'removed') throw corruptBlobError(digest);
      throw new Error(`layer ${layer.diffId} is neither in the cache nor in a registry`);
    }
    await this.images.fetchBlob(
      layer.sourceRepository,
      layer.descriptor.digest,
      layer.descriptor.size,
    );
  }

  async resolveBase(stage: StagePlan): Promise<StageResult> {
    if (stage.base.kind !== 'image') {
      return { layers: [], config: stage.config, history: [], key: cacheKey('scratch', {}) };
    }
    const { ref, platform } = stage.base;
    const id = `s${stage.index}-1`;
    const name = `[${stage.name ?? `stage-${stage.index}`} 1/${stage.vertices.length + 1}] FROM ${ref}`;
    const started = Date.now();
    this.bus.emit({ type: 'step', id, name, status: 'started' });
    try {
      const image = await this.images.resolve(ref, platform);
      const layers: LayerInfo[] = image.manifest.layers.map((descriptor, i) => ({
        diffId: image.config.rootfs.diff_ids[i]!,
        descriptor,
        sourceRepository: image.repository,
      }));
      // Pull every layer now, in parallel with whatever else runs; a step waits only for its own.
      // A build outside the sandbox runs no step: an export fetches what it needs by itself.
      if (this.canExecute) for (const layer of layers) this.fetchLayer(layer).catch(() => {});
      this.bus.emit({ type: 'step', id, name, status: 'done', duration_ms: Date.now() - started });
      return {
        layers,
        config: image.config,
        history: image.config.history ?? [],
        key: cacheKey('image', { config: image.configDigest }),
      };
    } catch (err) {
      this.bus.emit({ type: 'step', id, name, status: 'error', duration_ms: Date.now() - started });
      throw err;
    }
  }

  async inputDigest(vertex: Vertex, stages: (i: number) => Promise<StageResult>): Promise<unknown> {
    const op = vertex.op;
    if (op.kind === 'run') return runMountDigest(op, this.runMountEnv(stages));
    if (op.kind !== 'copy') return undefined;
    if (op.from.kind === 'context') {
      const { local, remote } = splitAddSources(op);
      if (remote.length === 0) return this.cache.hashContext(op.sources, op.parents);
      // The key of an ADD <url> may need the download: that is done once, inside.
      if (!this.canExecute) throw new SandboxNeeded(vertex.name);
      return {
        ...(local.length > 0 ? { context: await this.cache.hashContext(local, op.parents) } : {}),
        remote: await this.addRemote.keyInputs(op).catch((err) => {
          throw atStep(err, vertex);
        }),
      };
    }
    if (op.from.kind === 'stage') return (await stages(op.from.stage)).key;
    return (await this.images.resolve(op.from.ref, op.from.platform)).manifestDigest;
  }

  async execute(
    vertex: Vertex,
    below: StageResult,
    stages: (i: number) => Promise<StageResult>,
    key: string,
    signal: AbortSignal,
  ): Promise<StepOutput> {
    await fsp.mkdir(this.scratchDir, { recursive: true });
    // The solver runs a step holding its cross-process lock and only when no usable record
    // exists, so a snapshot already under this step's id was left by a run killed before it
    // wrote its record: its files may differ from the layer this run makes (RUN output varies),
    // so it must not win the commit. With --no-cache a concurrent build may still use it.
    if (!this.noCache) await this.snapshots.remove(snapshotIdFor(key));
    const lowerDirs = await this.layers.dirsOf(below.layers);
    const ctx: StepContext = {
      bus: this.bus,
      vertexId: vertex.id,
      key,
      snapshots: this.snapshots,
      blobs: this.blobs,
      xattrPrefix: this.xattrPrefix,
      scratchDir: this.scratchDir,
      compression: 'gzip',
      pigzThreads: Math.min(4, os.availableParallelism()),
      ...(this.epoch?.rewriteTimestamp ? { layerEpoch: this.epoch.seconds } : {}),
      signal,
    };
    const op = vertex.op;
    if (op.kind === 'run') return executeRun(op, lowerDirs, ctx, this.runMountEnv(stages));
    if (op.kind === 'mkdir') return executeMkdir(op, lowerDirs, ctx);
    const root = await this.copyRoot(op.from, stages);
    return executeCopy(op, lowerDirs, root, this.ignore, ctx, this.addRemote);
  }

  private runMountEnv(stages: (i: number) => Promise<StageResult>): RunMountEnv {
    const layersOf = async (from: LayerSource): Promise<LayerInfo[]> => {
      if (from.kind === 'stage') return (await stages(from.stage)).layers;
      const image = await this.images.resolve(from.ref, from.platform);
      return image.manifest.layers.map((descriptor, i) => ({
        diffId: image.config.rootfs.diff_ids[i]!,
        descriptor,
        sourceRepository: image.repository,
      }));
    };
    return {
      contextDir: this.request.contextDir,
      ignore: this.ignore,
      cacheMounts: this.cacheMounts,
      secrets: this.request.secrets,
      ssh: this.request.ssh ?? [],
      xattrPrefix: this.xattrPrefix,
      hashContext: (sources) => this.cache.hashContext(sources),
      layerDirs: async (from) => this.layers.dirsOf(await layersOf(from)),
      contentKey: async (from) =>
        from.kind === 'stage'
          ? (await stages(from.stage)).key
          : (await this.images.resolve(from.ref, from.platform)).manifestDigest,
    };
  }

  private async copyRoot(
    from: Extract<Vertex['op'], { kind: 'copy' }>['from'],
    stages: (i: number) => Promise<StageResult>,
  ): Promise<CopyRoot> {
    if (from.kind === 'context') return { kind: 'dir', dir: this.request.contextDir };
    if (from.kind === 'stage') {
      return { kind: 'layers', dirs: await this.layers.dirsOf((await stages(from.stage)).layers) };
    }
    const image = await this.images.resolve(from.ref, from.platform);
    const layers = image.manifest.layers.map((descriptor, i) => ({
      diffId: image.config.rootfs.diff_ids[i]!,
      descriptor,
      sourceRepository: image.repository,
    }));
    return { kind: 'layers', dirs: await this.layers.dirsOf(layers) };
  }

  exportContext(signal: AbortSignal): Omit<ExportContext, 'staging'> {
    return {
      bus: this.bus,
      blobs: this.blobs,
      client: this.images.client,
      scratchDir: this.scratchDir,
      fetchLayer: (l) => this.fetchLayer(l),
      canChown: rootIsHostRoot(),
      ...(this.epoch ? { epoch: this.epoch } : {}),
      signal,
    };
  }

  async close(): Promise<void> {
    await this.cache.close();
    await this.logs.close();
    await fsp.rm(this.scratchDir, { recursive: true, force: true });
  }
}
