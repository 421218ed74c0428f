import { InputError, RegistryError } from '../errors.js';
import { EventBus as Bus, type EventBus } from '../events/event-bus.js';
import type { KilnEvent } from '../events/events.js';
import type { ResultFile } from '../exporter/result-file.js';
import type { BuildRequest } from '../solver/build-request.js';
import { type BuildOutcome, runBuild } from '../solver/run-build.js';
import { SandboxNeeded } from '../solver/sandbox-needed.js';

/**
 * Whether a build may first be tried in the outer process, before kiln moves into its
 * namespaces: only when no step has to run there is nothing to isolate, so a fully cached build
 * (the common CI rebuild) saves the second process. Outputs that unpack files on the host (local,
 * tar) need the namespace's owners, and stdin can be read only once, so those always go inside.
 */
export function mayTryCached(request: BuildRequest): boolean {
  // An isolation asked for by name is checked (and may be refused) on the way in.
  if (request.noCache || request.isolation !== 'auto') return false;
  if (request.contextFromStdin || request.dockerfileFromStdin) return false;
  return request.outputs.every(
    (o) => o.type === 'image' || o.type === 'oci' || o.type === 'docker',
  );
}

/**
 * Builds from the cache alone. Resolves the outcome when every step was cached, or undefined when
 * the build has to go inside: a step must run, or this process failed where the namespace may
 * not (it cannot read a file the user's namespace root can). Until every step is solved the
 * attempt's events are held, and dropped when the build goes inside, which reports them again;
 * from then on (the export, which may be long) they are shown as they come. Errors in the input
 * and from registries would only repeat inside: they are thrown, after the events before them.
 */
export async function tryCachedBuild(
  request: BuildRequest,
  bus: EventBus,
  signal: AbortSignal,
  resultFiles: readonly ResultFile[] = [],
): Promise<BuildOutcome | undefined> {
  let held: KilnEvent[] | undefined = [];
  const attempt = new Bus();
  attempt.on((event) => (held ? held.push(event) : bus.emit(event)));
  const release = (): void => {
    for (const event of held ?? []) bus.emit(event);
    held = undefined;
  };
  try {
    return await runBuild(request, attempt, signal, {
      canExecute: false,
      onSolved: release,
      resultFiles,
    });
  } catch (err) {
    const solved = held === undefined;
    if (!solved && !signal.aborted && (err instanceof SandboxNeeded || !isFinal(err))) {
      return undefined;
    }
    release();
    throw err;
  }
}

/** A failure that building inside the namespace would only repeat. */
function isFinal(err: unknown): boolean {
  return err instanceof InputError || err instanceof RegistryError;
}
