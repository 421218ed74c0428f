import { KilnError } from '../errors.js';
import { EventBus } from '../events/event-bus.js';
import { checkOutputs } from '../exporter/check-outputs.js';
import type { ResultFile } from '../exporter/result-file.js';
import type { BuildRequest } from '../solver/build-request.js';
import { type BuildOutcome, runBuild } from '../solver/run-build.js';
import {
  activeIsolation,
  expectedParentPid,
  reexecInUserNamespace,
} from '../worker/sandbox/userns.js';
import { type BuildFlags, toBuildRequest } from './build-options.js';
import { mayTryCached, tryCachedBuild } from './cached-build.js';
import { checkContext } from './check-context.js';
import { errorEvent } from './error-event.js';
import { attachProgress } from './progress.js';
import { buildResultFiles } from './result-files.js';

/** What a build command hands to runBuildCommand: how to show progress, validate and finish. */
export interface BuildInvocation {
  progress: string;
  /**
   * Validates the flags into a request. Runs in the outer process and again inside the user
   * namespace, so bad flags fail before any namespace is made.
   */
  prepare(bus: EventBus): BuildRequest;
  /** The files reporting on the build; called after prepare. */
  resultFiles(): ResultFile[];
}

/**
 * `kiln build`: validate the flags, move into the user namespace (a child process of the same
 * binary), then build and report. Bad flags fail before any namespace is made.
 */
export function buildAction(context: string, flags: BuildFlags): Promise<number> {
  return runBuildCommand({
    progress: flags.progress,
    prepare: () => toBuildRequest(context, flags, process.cwd(), process.env),
    resultFiles: () => buildResultFiles(flags.metadataFile, flags.iidfile),
  });
}

/** The path every build command shares (`kiln build`, `kiln executor`); resolves the exit code. */
export async function runBuildCommand(invocation: BuildInvocation): Promise<number> {
  const bus = new EventBus();
  let finish: () => void;
  try {
    finish = attachProgress(bus, invocation.progress, process.stderr);
  } catch (err) {
    return reportWithoutBus(err);
  }

  try {
    const request = invocation.prepare(bus);
    const resultFiles = invocation.resultFiles();
    await checkContext(request);
    // Before anything is built or cached: an output that cannot be written fails the build now.
    // Checked again inside the namespace, where the rights may differ.
    await checkOutputs(request.outputs, resultFiles, request.cacheTo);
    // A build that the cache answers whole needs no namespace: try that before making one.
    if (activeIsolation() === undefined && mayTryCached(request)) {
      const cached = await withSignals((signal) =>
        tryCachedBuild(request, bus, signal, resultFiles),
      );
      if (typeof cached === 'number') return cached;
      if (cached !== undefined) return succeed(cached, bus);
    }
    const childExit = await reexecInUserNamespace({
      isolation: request.isolation,
      ...(request.containerFallback ? { containerFallback: true } : {}),
      onFallback: (message) => bus.emit({ type: 'warning', message }),
    });
    if (childExit !== undefined) return childExit;

    const built = await withSignals((signal) =>
      runBuild(request, bus, signal, { canExecute: true, resultFiles }),
    );
    return typeof built === 'number' ? built : succeed(built, bus);
  } catch (err) {
    bus.emit(errorEvent(err));
    return err instanceof KilnError ? err.exitCode : 1;
  } finally {
    finish();
  }
}

function succeed(outcome: BuildOutcome, bus: EventBus): number {
  bus.emit({
    type: 'result',
    ...(outcome.manifestDigest ? { digest: outcome.manifestDigest } : {}),
    ...(outcome.configDigest ? { config_digest: outcome.configDigest } : {}),
    names: outcome.names,
  });
  return 0;
}

/**
 * Runs a build that SIGINT and SIGTERM abort; resolves its result, or the exit code of the
 * signal that interrupted it (130, 143).
 */
async function withSignals<T>(build: (signal: AbortSignal) => Promise<T>): Promise<T | number> {
  const abort = new AbortController();
  const interrupted = onSignals(abort);
  try {
    return await build(abort.signal);
  } catch (err) {
    const signal = interrupted.signal();
    if (signal) return signal === 'SIGINT' ? 130 : 143;
    throw err;
  } finally {
    interrupted.dispose();
  }
}

/** Whether this process is the namespaced child of a kiln process (not 'none' set later on). */
const STARTED_INSIDE = activeIsolation() !== undefined;

/** How long an interrupted build may take to stop by itself before the process just exits. */
const STOP_GRACE_MS = 5000;

/**
 * SIGINT and SIGTERM abort the build. Whatever does not stop within STOP_GRACE_MS (a wait on a
 * stalled server), or a second signal, ends the process with the signal's exit code: the cache
 * stays consistent because every write to it is atomic. The namespaced child also stops when its
 * parent is gone (killed with SIGKILL), which it sees as being handed to another parent.
 */
function onSignals(abort: AbortController): {
  signal: () => string | undefined;
  dispose: () => void;
} {
  let received: string | undefined;
  let grace: NodeJS.Timeout | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (received !== undefined) dieBy(sig);
    received = sig;
    abort.abort(new Error(`interrupted by ${sig}`));
    grace = setTimeout(() => dieBy(sig), STOP_GRACE_MS);
    grace.unref();
  };
  const parent = expectedParentPid() ?? process.ppid;
  const checkParent = (): void => {
    if (process.ppid !== parent && received === undefined) handler('SIGTERM');
  };
  const orphaned = !STARTED_INSIDE ? undefined : setInterval(checkParent, 1000);
  orphaned?.unref();
  if (STARTED_INSIDE) checkParent();
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: () => received,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      if (orphaned) clearInterval(orphaned);
      if (grace) clearTimeout(grace);
    },
  };
}

/**
 * Ends the process by the signal itself, with its default action: the exit status is 130 or 143
 * as for any program a signal stopped. process.exit() is not enough: it waits for the thread
 * pool, and a thread blocked in a system call that never returns (open(2) of a pipe nobody reads)
 * would keep the process alive for ever.
 */
function dieBy(sig: NodeJS.Signals): never {
  process.removeAllListeners(sig);
  process.kill(process.pid, sig);
  // Reached only if the signal were blocked in this thread: then exit the ordinary way.
  process.exit(sig === 'SIGINT' ? 130 : 143);
}

function reportWithoutBus(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`ERROR: ${message}\n`);
  return err instanceof KilnError ? err.exitCode : 1;
}
