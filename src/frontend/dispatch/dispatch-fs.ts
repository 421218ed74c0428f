import * as posix from 'node:path/posix';
import type { SourceLocation } from '../../errors.js';
import type { CopySource, RunMount } from '../../graph/plan.js';
import type { NetworkMode } from '../../solver/build-request.js';
import { redactUrl } from '../../worker/fileops/add-source.js';
import { commandLine } from './dispatch-config.js';
import type { Expander } from './expand.js';
import {
  addVertex,
  argHidesEnv,
  DEFAULT_PATH,
  envMap,
  type StageState,
  setEnv,
} from './stage-state.js';

/** The filesystem instructions: each makes a vertex that the solver executes. */

export interface RunInput {
  args: string[];
  json: boolean;
  network?: NetworkMode;
  /** Proxy build args given on the command line: in the environment, never in keys or history. */
  proxyArgs: Map<string, string>;
  /** The step's name when it is not the command (a heredoc's command line and summary). */
  shown?: string;
  /** A heredoc script to mount in the step and run (see run-heredoc.ts). */
  script?: { name: string; content: string };
  mounts: RunMount[];
}

export function dispatchRun(state: StageState, input: RunInput, location: SourceLocation): void {
  const argv = commandLine(state, input.args, input.json);
  const imageEnv = envMap(state.config.Env);

  // Build args reach RUN as environment variables; of an ENV and an ARG of one name, the one
  // set last wins (an ARG replaces the ENV's value in place, as BuildKit's AddEnv does).
  let env = [...(state.config.Env ?? [])];
  const argEnv: string[] = [];
  const hiding: string[] = [];
  // A proxy variable that the stage declares as an ARG is a build arg like any other (env, key,
  // history), as in BuildKit; undeclared ones reach the step as proxyEnv only.
  for (const [k, v] of state.args) {
    if (!imageEnv.has(k)) argEnv.push(`${k}=${v}`);
    else if (argHidesEnv(state, k)) {
      env = setEnv(env, k, v);
      hiding.push(`${k}=${v}`);
    }
  }
  if (!imageEnv.has('PATH')) env.unshift(`PATH=${DEFAULT_PATH}`);
  env.push(...argEnv);
  const proxyEnv = [...input.proxyArgs]
    .filter(([k]) => !state.args.has(k))
    .map(([k, v]) => `${k}=${v}`);

  const shown = argv.join(' ');
  // The history lists the ARGs this stage declared, in order and with repeats, as BuildKit
  // writes them (an ARG without a value as `K=`); ENV-shadowed ones are left out.
  const shownArgs = (state.argDecls ?? [])
    .filter((k) => !imageEnv.has(k) || argHidesEnv(state, k))
    .map((k) => `${k}=${state.args.get(k) ?? ''}`);
  void hiding;
  const prefix = shownArgs.length > 0 ? `|${shownArgs.length} ${shownArgs.join(' ')} ` : '';
  addVertex(
    state,
    {
      op: {
        kind: 'run',
        argv,
        env,
        proxyEnv,
        cwd: state.config.WorkingDir || '/',
        user: state.config.User ?? '',
        network: input.network ?? 'default',
        ...(input.mounts.length > 0 ? { mounts: input.mounts } : {}),
        ...(input.script === undefined ? {} : { heredocScript: input.script }),
      },
      createdBy: `RUN ${prefix}${shown} # buildkit`,
      location,
    },
    `RUN ${input.shown ?? (input.json ? JSON.stringify(input.args) : input.args.join(' '))}`,
    location,
  );
}

export interface CopyInput {
  instruction: 'COPY' | 'ADD';
  /** Expanded --from, resolved by the caller. */
  from: CopySource;
  fromText?: string;
  sources: string[];
  /** Where each source is written. */
  sourceLocations: SourceLocation[];
  dest: string;
  destLocation: SourceLocation;
  /** Where the flags are written (the keyword's place for flags not given). */
  flagLocations: {
    from: SourceLocation;
    chown: SourceLocation;
    chmod: SourceLocation;
    checksum: SourceLocation;
    exclude: (i: number) => SourceLocation;
  };
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  inline: { name: string; content: string }[];
  /** ADD only; absent when not given, so other steps' keys stay as they were. */
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
}

export function dispatchCopy(
  state: StageState,
  x: Expander,
  input: CopyInput,
  location: SourceLocation,
): void {
  const at = input.flagLocations;
  const sources = input.sources.map((s, i) => x.word(s, input.sourceLocations[i]));
  const destWord = x.word(input.dest, input.destLocation);
  const dest = resolveDest(state, destWord);
  const chown = input.chown === undefined ? undefined : x.word(input.chown, at.chown);
  const chmod = input.chmod === undefined ? undefined : x.word(input.chmod, at.chmod);
  const flags = [
    ...(input.fromText === undefined ? [] : [`--from=${input.fromText}`]),
    ...(chown === undefined ? [] : [`--chown=${chown}`]),
    ...(chmod === undefined ? [] : [`--chmod=${chmod}`]),
  ];
  // A URL's credentials stay in the op (the fetch needs them) but out of step names and history.
  const shown = input.instruction === 'ADD' ? sources.map(redactUrl) : sources;
  const words = [...flags, ...shown, input.dest].join(' ');
  if (input.from.kind === 'stage') state.dependsOn.add(input.from.stage);

  addVertex(
    state,
    {
      op: {
        kind: 'copy',
        instruction: input.instruction,
        from: input.from,
        sources,
        dest,
        ...(chown === undefined ? {} : { chown }),
        ...(chmod === undefined ? {} : { chmod }),
        link: input.link,
        parents: input.parents,
        exclude: input.exclude.map((e, i) => x.word(e, at.exclude(i))),
        ...(input.inline.length > 0 ? { inline: input.inline } : {}),
        ...(input.checksum === undefined ? {} : { checksum: x.word(input.checksum, at.checksum) }),
        ...(input.keepGitDir === undefined ? {} : { keepGitDir: input.keepGitDir }),
        ...(input.unpack === undefined ? {} : { unpack: input.unpack }),
      },
      // As BuildKit writes it: sources and the destination as written (expanded, not resolved
      // against WORKDIR), without the flags.
      createdBy: `${input.instruction} ${[...shown, destWord].join(' ')} # buildkit`,
      location,
      words: {
        ...(input.fromText === undefined ? {} : { from: at.from }),
        sources: sources.map((source, i) => ({
          source,
          at: input.sourceLocations[i] ?? location,
        })),
      },
    },
    `${input.instruction} ${words}`,
    location,
  );
}

/** A relative COPY destination is under WORKDIR; a trailing '/' (directory) is kept. */
function resolveDest(state: StageState, dest: string): string {
  if (dest.startsWith('/')) return dest;
  const cwd = state.config.WorkingDir || '/';
  const joined = posix.join(cwd, dest);
  return dest.endsWith('/') || dest === '.' ? `${joined.replace(/\/$/, '')}/` : joined;
}

export function dispatchWorkdir(
  state: StageState,
  x: Expander,
  dir: string,
  location: SourceLocation,
): void {
  const expanded = x.word(dir);
  const previous = state.config.WorkingDir || '/';
  const resolved = posix.resolve(previous, expanded);
  state.config.WorkingDir = resolved;
  addVertex(
    state,
    {
      op: { kind: 'mkdir', path: resolved, user: state.config.User ?? '' },
      createdBy: `WORKDIR ${resolved}`,
      location,
    },
    `WORKDIR ${expanded}`,
    location,
  );
}

/**
 * ARG NAME[=default]: a --build-arg wins, then the default (expanded), then the value of a global
 * ARG of the same name. A declared ARG without any value stays unset.
 */
export function dispatchArg(
  state: StageState,
  x: Expander,
  pairs: { name: string; value?: string; at?: SourceLocation }[],
  buildArgs: Map<string, string>,
  metaArgs: Map<string, string>,
): void {
  const shown: string[] = [];
  for (const pair of pairs) {
    const name = x.word(pair.name, pair.at);
    state.argDecls = [...(state.argDecls ?? []), name];
    let value = buildArgs.get(name);
    if (value === undefined && pair.value !== undefined) value = x.word(pair.value, pair.at);
    if (value === undefined) value = metaArgs.get(name);
    if (value !== undefined) {
      state.args.set(name, value);
      state.argsOverEnv = new Set(state.argsOverEnv).add(name);
    }
    shown.push(pair.value === undefined ? name : `${name}=${pair.value}`);
  }
  state.history.push({ createdBy: `ARG ${shown.join(' ')}` });
}
