import type { SourceLocation } from '../../errors.js';
import type { HistoryItem, Vertex } from '../../graph/plan.js';
import type { ContainerConfig, Platform } from '../../image/oci-types.js';

/** The default PATH Docker gives images without one (and RUN steps of such images). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The frontend's view of a stage while its instructions are dispatched: the config so far, the
 * build args in scope and the vertices made. One instruction sees the values from before it.
 */
export interface StageState {
  index: number;
  /** The stage's name as progress shows it (`build`, or `stage-2` for unnamed stages). */
  label: string;
  config: ContainerConfig;
  /** The platform the stage's steps run on (set once its base is known). */
  platform?: Platform;
  /** MAINTAINER sets the image's author. */
  author?: string;
  /** Build args declared in this stage (or inherited through FROM <stage>), in order. */
  args: Map<string, string>;
  /**
   * Build args that hide an ENV of the same name. BuildKit adds a build arg with a value to the
   * step environment where its ARG stands, so it hides an earlier ENV (an inherited one too)
   * until a later ENV sets the name again; the image config never sees it. Absent: none.
   */
  argsOverEnv?: Set<string>;
  /** The names of the ARG instructions of this stage, in order, repeats kept (for history). */
  argDecls?: string[];
  /** Whether CMD was set in this stage; ENTRYPOINT resets only an inherited CMD. */
  cmdSet: boolean;
  vertices: Vertex[];
  history: HistoryItem[];
  dependsOn: Set<number>;
  /** FROM plus the filesystem steps of the stage, for `[build 3/4]` names. */
  stepCount: number;
}

/** Reads `K=V` entries of an Env list into a map, later entries winning. */
export function envMap(env: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const item of env ?? []) {
    const eq = item.indexOf('=');
    if (eq < 0) map.set(item, '');
    else map.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return map;
}

/** Sets one variable in an Env list, keeping its position when it already exists, as Docker does. */
export function setEnv(env: readonly string[] | undefined, key: string, value: string): string[] {
  const result = [...(env ?? [])];
  const index = result.findIndex((item) => item === key || item.startsWith(`${key}=`));
  if (index >= 0) result[index] = `${key}=${value}`;
  else result.push(`${key}=${value}`);
  return result;
}

/** Whether the build arg `name` was declared after the last ENV of that name. */
export function argHidesEnv(state: StageState, name: string): boolean {
  return state.argsOverEnv?.has(name) === true;
}

/**
 * The variables word expansion sees: the image's ENV and the build args in scope, each name
 * taking the value of whichever of ENV and ARG set it last.
 */
export function expansionEnv(state: StageState): Map<string, string> {
  const env = new Map(state.args);
  for (const [k, v] of envMap(state.config.Env)) if (!argHidesEnv(state, k)) env.set(k, v);
  return env;
}

export function addVertex(
  state: StageState,
  vertex: Omit<Vertex, 'id' | 'name'>,
  text: string,
  location: SourceLocation,
): void {
  // FROM is step 1 of a stage, as BuildKit numbers them.
  const n = state.vertices.length + 2;
  const full: Vertex = {
    ...vertex,
    id: `s${state.index}-${n}`,
    name: `[${state.label} ${n}/${state.stepCount}] ${text}`,
    location,
  };
  state.vertices.push(full);
  state.history.push({ createdBy: full.createdBy, vertex: full });
}
