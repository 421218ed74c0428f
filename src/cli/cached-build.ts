import { EventBus } from '../events/event-bus.js';
import type { KilnEvent } from '../events/events.js';
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
 * one has to run: then nothing was exported and the events of the attempt are dropped, since the
 * build inside the namespaces reports them again. Other failures are real and are thrown, after
 * the events that led to them.
 */
export async function tryCachedBuild(
  request: BuildRequest,
  bus: EventBus,
  signal: AbortSignal,
): Promise<BuildOutcome | undefined> {
  const held: KilnEvent[] = [];
  const attempt = new EventBus();
  attempt.on((event) => held.push(event));
  const replay = (): void => {
    for (const event of held) bus.emit(event);
  };
  try {
    const outcome = await runBuild(request, attempt, signal, { canExecute: false });
    replay();
    return outcome;
  } catch (err) {
    if (err instanceof SandboxNeeded) return undefined;
    replay();
    throw err;
  }
}
