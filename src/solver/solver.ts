import type { RecordStore } from '../cache/record-store.js';
import type { StepRecord } from '../cache/step-record.js';
import { BuildError, KilnError, withLocation } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { BuildPlan, StagePlan, Vertex } from '../graph/plan.js';
import type { History } from '../image/oci-types.js';
import { cacheKey } from './cache-key.js';
import { SandboxNeeded } from './sandbox-needed.js';
import { Semaphore } from './semaphore.js';
import { clampCreated, type SourceDateEpoch } from './source-date-epoch.js';
import type { LayerInfo, StageResult } from './stage-result.js';
import { stepPlace } from './step-location.js';

/** What executing one vertex produced: a layer, or nothing when the step changed no file. */
export type StepOutput = Omit<NonNullable<StepRecord['layer']>, never> | undefined;

/** The parts of the engine the solver drives; each lives in its own module. */
export interface SolverServices {
  bus: EventBus;
  records: RecordStore;
  noCache: boolean;
  concurrency: number;
  /**
   * False in the outer process, which has no namespaces yet: a step that is not cached stops the
   * build with SandboxNeeded instead of running, and the build is done again inside.
   */
  canExecute: boolean;
  /** SOURCE_DATE_EPOCH: clamps new history times; with rewriteTimestamp it enters every key. */
  epoch?: SourceDateEpoch | undefined;
  /** The base of a stage (scratch or an image): its layers, config and history. */
  resolveBase(stage: StagePlan): Promise<StageResult>;
  /** What in the outside world a vertex depends on beyond its op (e.g. context file digests). */
  inputDigest(vertex: Vertex, stages: (i: number) => Promise<StageResult>): Promise<unknown>;
  /** Where the full output of a step is kept, once it printed something. */
  logPath?(vertexId: string): string | undefined;
  /** Runs a vertex on top of `below` and captures its layer. */
  execute(
    vertex: Vertex,
    below: StageResult,
    stages: (i: number) => Promise<StageResult>,
    key: string,
    signal: AbortSignal,
  ): Promise<StepOutput>;
}

/**
 * Solves the stages the target needs. Each stage is one memoized promise, so a stage used by
 * several others is built once and independent stages run at the same time; the semaphore bounds
 * how many steps execute at once. The first failure aborts every other running step.
 */
export class Solver {
  private readonly results = new Map<number, Promise<StageResult>>();
  private readonly steps = new Map<string, Promise<{ record: StepRecord; executed: boolean }>>();
  private readonly limit: Semaphore;
  private readonly abort = new AbortController();
  private executed = 0;

  constructor(
    private readonly plan: BuildPlan,
    private readonly services: SolverServices,
  ) {
    this.limit = new Semaphore(services.concurrency);
  }

  /** How many steps ran in this build (not taken from the cache). */
  get executedSteps(): number {
    return this.executed;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  cancel(reason: unknown): void {
    if (!this.abort.signal.aborted) this.abort.abort(reason);
  }

  async solveTarget(): Promise<StageResult> {
    try {
      return await this.solveStage(this.plan.target);
    } catch (err) {
      this.cancel(err);
      throw err;
    }
  }

  solveStage(index: number): Promise<StageResult> {
    let result = this.results.get(index);
    if (!result) {
      result = this.buildStage(index);
      // A failure is observed through whoever awaits it; avoid an unhandled rejection meanwhile.
      result.catch((err: unknown) => this.cancel(err));
      this.results.set(index, result);
    }
    return result;
  }

  private async buildStage(index: number): Promise<StageResult> {
    const stage = this.plan.stages[index];
    if (!stage) throw new BuildError('STAGE_MISSING', `no stage with index ${index}`);

    // Start every stage this one needs at once: they run in parallel with the base pull.
    const deps = stage.dependsOn.map((d) => this.solveStage(d));
    const base =
      stage.base.kind === 'stage'
        ? await this.solveStage(stage.base.stage)
        : await this.services.resolveBase(stage);
    await Promise.all(deps);

    let state: StageResult = { ...base, layers: [...base.layers], history: [...base.history] };
    for (const item of stage.history) {
      if (!item.vertex) {
        // Metadata-only entries take the time of the step before them, so a rebuild that hits the
        // cache writes the same config bytes.
        state.history.push(emptyHistory(item.createdBy, this.created(state.history.at(-1))));
        continue;
      }
      state = await this.runVertex(item.vertex, state);
    }
    const last = state.history.at(-1)?.created;
    const created = this.services.epoch ? clampCreated(last, this.services.epoch) : last;
    const config = { ...stage.config, rootfs: rootfsOf(state.layers), history: state.history };
    return { ...state, config: created ? { ...config, created } : config };
  }

  private async runVertex(vertex: Vertex, below: StageResult): Promise<StageResult> {
    const { bus } = this.services;
    const stages = (i: number): Promise<StageResult> => this.solveStage(i);
    // Proxy variables are deliberately left out: changing a proxy must not invalidate the cache.
    const op = vertex.op.kind === 'run' ? { ...vertex.op, proxyEnv: undefined } : vertex.op;
    const epoch = this.services.epoch;
    const key = cacheKey(below.key, {
      op,
      input: await this.services.inputDigest(vertex, stages).catch((err: unknown) => {
        // Before the step starts (an image to pull for COPY --from): no log, no step name.
        if (!(err instanceof KilnError) || err.location) throw err;
        const place = stepPlace(err, vertex);
        throw withLocation(err, place.location, place.hint);
      }),
      // Clamped layers have other bytes than unclamped ones: their records must not mix.
      rewriteTimestamp: epoch?.rewriteTimestamp ? epoch.seconds : undefined,
    });

    // Memoized per key for the whole build: stages sharing a step (same parent, same op and
    // inputs, e.g. the same COPY on the same base) run it once, and the others see it cached.
    let step = this.steps.get(key);
    const owner = step === undefined;
    if (!step) {
      step = this.lookupOrExecute(vertex, below, key);
      this.steps.set(key, step);
    }
    const { record, executed } = await step;
    if (!owner || !executed) {
      bus.emit({ type: 'step', id: vertex.id, name: vertex.name, status: 'cached' });
    }
    return withStep(below, key, record, vertex.createdBy, this.created(record));
  }

  /** A new history entry's time: the step's first run, clamped to SOURCE_DATE_EPOCH if set. */
  private created(from: { created?: string | undefined } | undefined): string | undefined {
    const { epoch } = this.services;
    return epoch ? clampCreated(from?.created, epoch) : from?.created;
  }

  private async lookupOrExecute(
    vertex: Vertex,
    below: StageResult,
    key: string,
  ): Promise<{ record: StepRecord; executed: boolean }> {
    const { records, noCache } = this.services;
    const cached = noCache ? undefined : await records.get(key);
    if (cached) return { record: cached, executed: false };
    if (!this.services.canExecute) throw new SandboxNeeded(vertex.name);
    // Another kiln process on the same cache dir may be running this step: wait for it, then
    // take its record, so both builds agree on the layer.
    return records.exclusive(key, this.abort.signal, async () => {
      const raced = noCache ? undefined : await records.get(key);
      if (raced) return { record: raced, executed: false };
      const record = await this.executeVertex(vertex, below, key);
      this.executed++;
      return { record, executed: true };
    });
  }

  private executeVertex(vertex: Vertex, below: StageResult, key: string): Promise<StepRecord> {
    const { bus } = this.services;
    const stages = (i: number): Promise<StageResult> => this.solveStage(i);
    return this.limit.use(async () => {
      this.abort.signal.throwIfAborted();
      const started = Date.now();
      bus.emit({ type: 'step', id: vertex.id, name: vertex.name, status: 'started' });
      try {
        const layer = await this.services.execute(vertex, below, stages, key, this.abort.signal);
        const record: StepRecord = {
          key,
          parent: below.key,
          created: new Date().toISOString(),
          ...(layer ? { layer } : {}),
        };
        await this.services.records.put(record);
        bus.emit({
          type: 'step',
          id: vertex.id,
          name: vertex.name,
          status: 'done',
          duration_ms: Date.now() - started,
        });
        return record;
      } catch (err) {
        // A step stopped because the build was interrupted, or because another step failed
        // first, is canceled; only the step that failed by itself is an error.
        const status = this.abort.signal.aborted ? 'canceled' : 'error';
        bus.emit({
          type: 'step',
          id: vertex.id,
          name: vertex.name,
          status,
          duration_ms: Date.now() - started,
        });
        throw this.located(err, vertex);
      }
    });
  }

  /**
   * A step's failure points at its Dockerfile instruction, as BuildKit's errors do, and says
   * where the step's whole output was kept.
   */
  private located(err: unknown, vertex: Vertex): unknown {
    if (!(err instanceof KilnError) || err.location) return err;
    const place = stepPlace(err, vertex);
    if (!(err instanceof BuildError)) return withLocation(err, place.location, place.hint);
    const log = this.services.logPath?.(vertex.id);
    const hint =
      err.hint ?? place.hint ?? (log ? `the step's full output is in ${log}` : undefined);
    return new BuildError(err.code, `${vertex.name}: ${err.message}`, {
      location: place.location,
      ...(hint ? { hint } : {}),
      cause: err,
    });
  }
}

function withStep(
  below: StageResult,
  key: string,
  record: StepRecord,
  createdBy: string,
  created: string | undefined,
): StageResult {
  const layers: LayerInfo[] = [...below.layers];
  if (record.layer) {
    layers.push({
      diffId: record.layer.diffId,
      descriptor: {
        mediaType: record.layer.mediaType,
        digest: record.layer.digest,
        size: record.layer.size,
      },
      snapshotId: record.layer.snapshotId,
      ...(record.layer.sourceRepository ? { sourceRepository: record.layer.sourceRepository } : {}),
    });
  }
  const entry: History = {
    ...(created ? { created } : {}),
    created_by: createdBy,
    comment: 'buildkit.dockerfile.v0',
  };
  if (!record.layer) entry.empty_layer = true;
  return { ...below, layers, key, history: [...below.history, entry] };
}

function emptyHistory(createdBy: string, created: string | undefined): History {
  return {
    ...(created ? { created } : {}),
    created_by: createdBy,
    comment: 'buildkit.dockerfile.v0',
    empty_layer: true,
  };
}

function rootfsOf(layers: LayerInfo[]): { type: 'layers'; diff_ids: string[] } {
  return { type: 'layers', diff_ids: layers.map((l) => l.diffId) };
}
