import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import {
  autoPrune,
  type CacheLimit,
  cacheLimitFrom,
  type UsedByBuild,
} from '../cache/auto-prune.js';
import { BlobStore } from '../cache/blob-store.js';
import { ensureCacheDir } from '../cache/ensure-cache-dir.js';
import { checkIdMapping } from '../cache/id-mapping.js';
import { RecordStore } from '../cache/record-store.js';
import { BuildError, InputError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import { exportOutputs } from '../exporter/export-outputs.js';
import { OutputStaging } from '../exporter/output-staging.js';
import { type ResultFile, stageResultFiles } from '../exporter/result-file.js';
import { planBuild } from '../frontend/dispatch/plan-build.js';
import { parseDockerfile } from '../frontend/dockerfile/index.js';
import {
  contextIgnore,
  findIgnoreFile,
  leaveOutOwnPaths,
  ownPathsInContext,
} from '../frontend/ignore/index.js';
import type { Descriptor } from '../image/oci-types.js';
import { onAbort } from '../on-abort.js';
import { parseReference, repositoryName } from '../registry/index.js';
import type { BuildRequest } from './build-request.js';
import { BuildServices } from './build-services.js';
import { SandboxNeeded } from './sandbox-needed.js';
import { Solver } from './solver.js';
import { readStdinContext } from './stdin-context.js';

/** What a finished build reports: digests for --metadata-file, --iidfile and the result event. */
export interface BuildOutcome {
  manifestDigest?: string;
  configDigest?: string;
  descriptor?: Descriptor;
  names: string[];
}

export interface RunBuildOptions {
  /**
   * False outside the namespaces: the build may only use the cache, and the first step that
   * would have to run throws SandboxNeeded (see solver/sandbox-needed.ts).
   */
  canExecute: boolean;
  /** Called once every step is solved, before the outputs are written. */
  onSolved?: () => void;
  /** Files reporting on the build, written with the outputs (all or nothing). */
  resultFiles?: readonly ResultFile[];
}

/** Reads and plans the Dockerfile, solves the target stage and writes every requested output. */
export async function runBuild(
  request: BuildRequest,
  bus: EventBus,
  signal: AbortSignal,
  options: RunBuildOptions = { canExecute: true },
): Promise<BuildOutcome> {
  // stdin can be read once: only the process that may run steps reads it.
  const readsStdin = request.contextFromStdin || request.dockerfileFromStdin;
  if (readsStdin && !options.canExecute) throw new SandboxNeeded('reading stdin');
  await ensureCacheDir(request.cacheDir);
  // Only the process that runs steps reads snapshots' owners; the cached-first one does not.
  if (options.canExecute) await checkIdMapping(request.cacheDir);
  if (!request.contextFromStdin) {
    return buildWith(request, await readDockerfile(request), bus, signal, options);
  }
  const stdin = await readStdinContext(path.join(request.cacheDir, 'tmp'));
  try {
    const dockerfilePath = path.resolve(stdin.contextDir, request.dockerfilePath);
    if (!dockerfilePath.startsWith(`${stdin.contextDir}${path.sep}`)) {
      throw new InputError(
        'DOCKERFILE_OUTSIDE_CONTEXT',
        `-f ${request.dockerfilePath} is outside the context`,
      );
    }
    const resolved = { ...request, contextDir: stdin.contextDir, dockerfilePath };
    return await buildWith(
      resolved,
      stdin.dockerfile ?? (await readDockerfile(resolved)),
      bus,
      signal,
      options,
    );
  } finally {
    await stdin.dispose();
  }
}

async function buildWith(
  request: BuildRequest,
  source: Buffer,
  bus: EventBus,
  signal: AbortSignal,
  options: RunBuildOptions,
): Promise<BuildOutcome> {
  const startedAt = Date.now();
  const cacheLimit = cacheLimitFrom(process.env);
  const parsed = parseDockerfile(source, request.dockerfileDisplayName);
  for (const w of parsed.warnings) {
    bus.emit({ type: 'warning', message: w.message, file: parsed.file, line: w.line });
  }

  const blobs = new BlobStore(request.cacheDir);
  await blobs.init();
  const ignoreFile = await findIgnoreFile(request.contextDir, request.dockerfilePath);
  const ignore = leaveOutOwnPaths(
    ignoreFile ? contextIgnore(ignoreFile.matcher, request.contextDir) : () => false,
    ownPathsInContext(request.contextDir, writtenPaths(request, options.resultFiles ?? [])),
  );
  const records = new RecordStore(request.cacheDir, blobs);
  const services = new BuildServices(request, bus, blobs, records, ignore, options);

  const plan = await planBuild(parsed, {
    buildArgs: request.buildArgs,
    ...(request.target === undefined ? {} : { target: request.target }),
    platform: services.platform,
    resolveImageConfig: (ref, platform) => services.images.resolveConfig(ref, platform),
  });
  for (const w of plan.warnings) bus.emit({ type: 'warning', ...w });

  if (request.outputs.length === 0) {
    bus.emit({
      type: 'warning',
      message: `no output specified: the result stays in the cache; ${
        request.noOutputHint ?? 'use --push or -o to export it'
      }`,
    });
  }

  if (request.checkPushFirst) await checkPushAccess(request, services, signal);

  const solver = new Solver(plan, services);
  const stopWatching = onAbort(signal, () => solver.cancel(signal.reason));
  try {
    await services.cache.importAll();
    const result = await solver.solveTarget();
    options.onSolved?.();
    const staging = new OutputStaging();
    let outcome: BuildOutcome;
    try {
      outcome = await exportOutputs(result, request, services, staging, signal);
      await services.cache.exportAll(result.key, signal);
      await stageResultFiles(outcome, options.resultFiles ?? [], staging);
      signal.throwIfAborted();
      await staging.commit(signal);
    } catch (err) {
      await staging.discard();
      throw err;
    }
    if (solver.executedSteps > 0) {
      const used = { startedAt, records: new Set(records.usedRecords().map((r) => r.key)) };
      await collectGarbage(request.cacheDir, cacheLimit, used, bus);
    }
    return outcome;
  } catch (err) {
    // A step that had to run canceled the rest; what the cancel broke elsewhere is not the news.
    const first = solver.signal.reason;
    throw first instanceof SandboxNeeded ? first : err;
  } finally {
    stopWatching();
    await services.close();
  }
}

/** Everything a build writes on the host: none of it is build context (see ignore/own-paths). */
function writtenPaths(request: BuildRequest, resultFiles: readonly ResultFile[]): string[] {
  const paths = [request.cacheDir, ...resultFiles.map((f) => f.path)];
  for (const output of request.outputs) {
    if ('dest' in output && output.dest !== '-') paths.push(output.dest);
  }
  for (const cache of request.cacheTo) if (cache.type === 'local') paths.push(cache.dir);
  return paths;
}

/**
 * Keeps the cache within its size limit after a build that added to it. The build has already
 * succeeded and written its outputs, so a failure here is a warning, never a failed build.
 */
/** One upload session opened and cancelled per pushed repository, before the first step. */
async function checkPushAccess(
  request: BuildRequest,
  services: BuildServices,
  signal: AbortSignal,
): Promise<void> {
  const names = request.outputs.flatMap((o) => (o.type === 'image' && o.push ? o.names : []));
  const repos = [...new Set(names.map((n) => repositoryName(parseReference(n))))];
  await Promise.all(repos.map((repo) => services.images.client.checkPushAccess(repo, signal)));
}

async function collectGarbage(
  cacheDir: string,
  limit: CacheLimit,
  used: UsedByBuild,
  bus: EventBus,
): Promise<void> {
  const id = 'cache-gc';
  const name = '[internal] keep the cache within its size limit';
  const began = Date.now();
  try {
    const result = await autoPrune(cacheDir, limit, used);
    if (result === undefined || result.reclaimedBytes <= 0) return;
    bus.emit({ type: 'step', id, name, status: 'started' });
    bus.emit({
      type: 'log',
      id,
      stream: 'stderr',
      data: `removed ${result.reclaimedBytes} bytes of unused cache; ${result.remainingBytes} left\n`,
    });
    bus.emit({ type: 'step', id, name, status: 'done', duration_ms: Date.now() - began });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    bus.emit({ type: 'warning', message: `could not keep the cache within its limit: ${message}` });
  }
}

async function readDockerfile(request: BuildRequest): Promise<Buffer> {
  if (request.dockerfileFromStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return await fsp.readFile(request.dockerfilePath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new InputError(
        'DOCKERFILE_NOT_FOUND',
        `Dockerfile not found: ${request.dockerfilePath}`,
        {
          hint: 'pass its path with -f, relative to the current directory',
        },
      );
    }
    throw new BuildError('DOCKERFILE_UNREADABLE', `cannot read ${request.dockerfilePath}`, {
      cause: err,
    });
  }
}
