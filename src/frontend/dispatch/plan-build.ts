import {
  BuildError,
  DockerfileError,
  InputError,
  KilnError,
  type SourceLocation,
  withLocation,
} from '../../errors.js';
import type { BaseSpec, BuildPlan, CopySource, StagePlan } from '../../graph/plan.js';
import { hostAmd64Level } from '../../image/amd64-level.js';
import type { ContainerConfig, ImageConfig, Platform } from '../../image/oci-types.js';
import {
  formatPlatform,
  hostPlatform,
  parsePlatform,
  platformMatchRank,
} from '../../image/platform.js';
import { PROXY_ARGS } from '../../solver/cache-key.js';
import { argAt, flagAt, type ParsedDockerfile } from '../dockerfile/index.js';
import type { Command, Stage } from '../instructions/commands.js';
import { parseStages } from '../instructions/parse-stages.js';
import { checkImageReference, located } from './check-words.js';
import { dispatchCommand } from './dispatch-command.js';
import { expanderFor } from './expand.js';
import { fsStepCount, parseTriggers } from './onbuild-triggers.js';
import { platformArgs } from './platform-args.js';
import { DEFAULT_PATH, type StageState } from './stage-state.js';

export interface PlanOptions {
  buildArgs: Map<string, string>;
  target?: string;
  /** The platform being built for (--platform, else the host's). */
  platform: Platform;
  /** Fetches the config of a base image (manifest and config only, no layers). */
  resolveImageConfig(ref: string, platform: Platform): Promise<ImageConfig>;
}

export interface PlanWarning {
  message: string;
  file?: string;
  line?: number;
  column?: number;
}

/**
 * Turns a parsed Dockerfile into the build graph: picks the stages the target needs, resolves
 * every base image's config at once, then dispatches each needed stage's instructions in order.
 */
export async function planBuild(
  parsed: ParsedDockerfile,
  options: PlanOptions,
): Promise<BuildPlan & { warnings: PlanWarning[] }> {
  const { metaArgs, stages } = parseStages(parsed);
  if (stages.length === 0) {
    throw new DockerfileError('NO_STAGES', 'the Dockerfile has no FROM instruction', {
      file: parsed.file,
      line: 1,
      column: 1,
    });
  }

  const globals = new Map<string, string>(platformArgs(options.platform));
  for (const arg of metaArgs) {
    const x = expanderFor(stateFromArgs(globals), parsed.directives.escape, loc(arg.location));
    for (const [i, def] of arg.args.entries()) {
      const at = argAt(arg.location, i);
      const value =
        options.buildArgs.get(def.key) ??
        (def.value === undefined ? undefined : x.word(def.value, at));
      if (value !== undefined) globals.set(def.key, value);
    }
  }

  const target = findTarget(stages, options.target);
  const resolved = stages.map((s) =>
    resolveBaseSpec(s, stages, globals, parsed.directives.escape, options),
  );
  const bases = resolved.map((r) => r.base);
  const needed = neededStages(target, stages, bases);

  // Every base image's config is fetched at once, before any stage is dispatched.
  const configs = new Map<number, Promise<ImageConfig>>();
  for (const i of needed) {
    const base = bases[i]!;
    if (base.kind !== 'image') continue;
    const config = options
      .resolveImageConfig(base.ref, base.platform)
      .catch((err: unknown) => Promise.reject(baseImageError(err, stages[i]!)));
    // Awaited in stage order below; a later rejection must not go unhandled meanwhile.
    config.catch(() => {});
    configs.set(i, config);
  }

  const plans: StagePlan[] = [];
  const warnings: PlanWarning[] = [];
  const finalStates = new Map<number, StageState>();
  // An ARG in a base's ONBUILD trigger consumes a build arg as one in the Dockerfile does.
  const triggerArgs = new Set<string>();
  for (const stage of stages) {
    if (!needed.has(stage.index)) continue;
    const base = bases[stage.index]!;
    const state = await initialState(stage, base, configs.get(stage.index), finalStates);
    // The base's ONBUILD triggers run first, and are not inherited by this image.
    const triggers = parseTriggers(state.config.OnBuild ?? [], loc(stage.location));
    if (state.config.OnBuild) delete state.config.OnBuild;
    for (const cmd of triggers)
      if (cmd.kind === 'arg') for (const d of cmd.args) triggerArgs.add(d.key);
    state.stepCount += fsStepCount(triggers);
    for (const command of [...triggers, ...stage.commands]) {
      dispatchCommand(state, command, {
        escape: parsed.directives.escape,
        buildArgs: options.buildArgs,
        metaArgs: globals,
        proxyArgs: proxyArgs(options.buildArgs),
        stageIndex: (name, byIndex) => stageIndexOf(name, stages, stage.index, byIndex),
        platform: options.platform,
        warn: (w) => warnings.push(w),
      });
    }
    checkRunnable(state, stagePlatform(base, finalStates, options.platform));
    finalStates.set(stage.index, state);
    const requested = resolved[stage.index]!.platform;
    const platform = await imagePlatform(base, requested, configs.get(stage.index), plans);
    plans[stage.index] = toStagePlan(stage, base, state, platform);
  }

  return {
    stages: plans,
    target,
    warnings: [
      ...warnings,
      ...unusedArgWarnings(options.buildArgs, metaArgs, stages, needed, triggerArgs),
    ],
  };
}

/** A base image that cannot be had is reported at its name in FROM. */
function baseImageError(err: unknown, stage: Stage): unknown {
  if (!(err instanceof KilnError) || err.location !== undefined) return err;
  const hint =
    err.code === 'REGISTRY_NOT_FOUND'
      ? 'check the image name and tag, and that the registry holds it'
      : undefined;
  return withLocation(err, argAt(stage.location, 0), hint);
}

function loc(l: { file: string; line: number; column: number }): SourceLocation {
  return { file: l.file, line: l.line, column: l.column };
}

function stateFromArgs(args: Map<string, string>): StageState {
  return {
    index: -1,
    label: '',
    config: {},
    args,
    cmdSet: false,
    vertices: [],
    history: [],
    dependsOn: new Set(),
    stepCount: 0,
  };
}

function findTarget(stages: Stage[], target: string | undefined): number {
  if (target === undefined) return stages.length - 1;
  const found = stages.find((s) => s.name === target.toLowerCase());
  if (!found) {
    const names = stages.map((s) => s.name).filter((n) => n !== undefined);
    throw new InputError('TARGET_UNKNOWN', `target stage "${target}" could not be found`, {
      hint: names.length > 0 ? `stages: ${names.join(', ')}` : 'the Dockerfile has no named stages',
    });
  }
  return found.index;
}

/**
 * A name in FROM, COPY --from or RUN --mount from names an earlier stage, or else an image. Only
 * COPY --from also takes a stage's index, as BuildKit reads them: elsewhere `0` is an image name.
 */
function stageIndexOf(
  name: string,
  stages: Stage[],
  before: number,
  byIndex = false,
): number | undefined {
  const lower = name.toLowerCase();
  const byName = stages.find((s) => s.name === lower && s.index < before);
  if (byName) return byName.index;
  if (byIndex && /^[0-9]+$/.test(name) && Number(name) < before) return Number(name);
  return undefined;
}

/** A stage's base, and the platform its FROM asks for (--platform, else the build's). */
function resolveBaseSpec(
  stage: Stage,
  stages: Stage[],
  globals: Map<string, string>,
  escapeChar: string,
  options: PlanOptions,
): { base: BaseSpec; platform: Platform } {
  const x = expanderFor(stateFromArgs(globals), escapeChar, loc(stage.location));
  const nameAt = argAt(stage.location, 0);
  const name = x.word(stage.baseName, nameAt);
  if (name === '') {
    throw new DockerfileError('FROM_EMPTY', 'FROM: base name is empty after expansion', nameAt);
  }
  const platformAt = flagAt(stage.location, 'platform');
  const platform =
    stage.platform === undefined
      ? options.platform
      : located(platformAt, () => parsePlatform(x.word(stage.platform!, platformAt)));
  if (name.toLowerCase() === 'scratch') return { base: { kind: 'scratch' }, platform };
  const index = stageIndexOf(name, stages, stage.index);
  if (index !== undefined) return { base: { kind: 'stage', stage: index }, platform };
  checkImageReference(name, nameAt);
  return { base: { kind: 'image', ref: name, platform }, platform };
}

/**
 * The platform an image's config records, as BuildKit's frontend keeps it: the base image's own
 * (os, architecture, variant of its config), a parent stage's, or for scratch the one FROM asks for.
 */
async function imagePlatform(
  base: BaseSpec,
  requested: Platform,
  baseConfig: Promise<ImageConfig> | undefined,
  plans: StagePlan[],
): Promise<Platform> {
  let from: { os?: string; architecture?: string; variant?: string } | undefined;
  if (base.kind === 'image') from = await baseConfig;
  if (base.kind === 'stage') from = plans[base.stage]?.config;
  if (!from?.os || !from.architecture) return requested;
  return {
    os: from.os,
    architecture: from.architecture,
    ...(from.variant === undefined ? {} : { variant: from.variant }),
  };
}

/** The target and every stage it reaches through FROM, COPY --from and RUN --mount from. */
function neededStages(target: number, stages: Stage[], bases: BaseSpec[]): Set<number> {
  const needed = new Set<number>();
  const visit = (i: number): void => {
    if (needed.has(i)) return;
    needed.add(i);
    const base = bases[i];
    if (base?.kind === 'stage') visit(base.stage);
    for (const cmd of stages[i]?.commands ?? []) {
      for (const ref of stageRefs(cmd)) {
        const index = stageIndexOf(ref, stages, i, cmd.kind === 'copy');
        if (index !== undefined) visit(index);
      }
    }
  };
  visit(target);
  return needed;
}

/** Raw `--from` values; a value with `$` is resolved after expansion, at dispatch. */
function stageRefs(cmd: Command): string[] {
  if (cmd.kind === 'copy' && cmd.from !== undefined) return [cmd.from];
  if (cmd.kind === 'run') return cmd.mounts.flatMap((m) => ('from' in m && m.from ? [m.from] : []));
  return [];
}

async function initialState(
  stage: Stage,
  base: BaseSpec,
  baseConfig: Promise<ImageConfig> | undefined,
  finalStates: Map<number, StageState>,
): Promise<StageState> {
  let config: ContainerConfig = { Env: [`PATH=${DEFAULT_PATH}`] };
  let args = new Map<string, string>();
  let argsOverEnv: Set<string> | undefined;
  if (base.kind === 'image' && baseConfig) {
    config = structuredClone((await baseConfig).config ?? {});
  } else if (base.kind === 'stage') {
    const parent = finalStates.get(base.stage);
    if (!parent)
      throw new Error(`stage ${base.stage} was not dispatched before stage ${stage.index}`);
    config = structuredClone(parent.config);
    // Build args of the parent stage stay in scope in a stage that starts FROM it.
    args = new Map(parent.args);
    if (parent.argsOverEnv) argsOverEnv = new Set(parent.argsOverEnv);
  }

  return {
    index: stage.index,
    label: stage.name ?? `stage-${stage.index}`,
    config,
    args,
    ...(argsOverEnv ? { argsOverEnv } : {}),
    cmdSet: false,
    vertices: [],
    history: [],
    dependsOn: new Set(base.kind === 'stage' ? [base.stage] : []),
    stepCount: fsStepCount(stage.commands) + 1,
  };
}

function proxyArgs(buildArgs: Map<string, string>): Map<string, string> {
  return new Map([...buildArgs].filter(([k]) => PROXY_ARGS.has(k)));
}

function toStagePlan(
  stage: Stage,
  base: BaseSpec,
  state: StageState,
  platform: Platform,
): StagePlan {
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    ...(state.author === undefined ? {} : { author: state.author }),
    config: state.config,
    rootfs: { type: 'layers', diff_ids: [] },
  };
  return {
    index: stage.index,
    ...(stage.name === undefined ? {} : { name: stage.name }),
    base,
    vertices: state.vertices,
    history: state.history,
    config,
    dependsOn: [...state.dependsOn],
    location: loc(stage.location),
  };
}

export type { CopySource };

/** BuildKit warns about --build-arg values that no ARG of the built stages declares. */
function unusedArgWarnings(
  buildArgs: Map<string, string>,
  metaArgs: { args: { key: string }[] }[],
  stages: Stage[],
  needed: Set<number>,
  triggerArgs: Set<string>,
): PlanWarning[] {
  const declared = new Set([...metaArgs.flatMap((a) => a.args.map((d) => d.key)), ...triggerArgs]);
  for (const stage of stages) {
    if (!needed.has(stage.index)) continue;
    for (const cmd of stage.commands)
      if (cmd.kind === 'arg') for (const d of cmd.args) declared.add(d.key);
  }
  const unused = [...buildArgs.keys()].filter((k) => !declared.has(k) && !PROXY_ARGS.has(k)).sort();
  if (unused.length === 0) return [];
  return [{ message: `one or more build args were not consumed: ${unused.join(', ')}` }];
}

/** The platform a stage's RUN steps execute: its base image's, or its parent stage's. */
function stagePlatform(
  base: BaseSpec,
  states: Map<number, StageState>,
  fallback: Platform,
): Platform {
  if (base.kind === 'image') return base.platform;
  if (base.kind === 'stage') return states.get(base.stage)?.platform ?? fallback;
  return fallback;
}

/**
 * There is no emulator in the sandbox: a RUN in a stage of another architecture would fail with
 * "exec format error" deep in the step, so it is refused at its instruction instead.
 */
/** What this host runs for `wanted`: an x86-64 CPU runs every level up to its own (v2, v3). */
function runnablePlatform(wanted: Platform): Platform {
  const host = hostPlatform();
  if (host.architecture !== 'amd64' || wanted.architecture !== 'amd64') return host;
  const level = hostAmd64Level();
  return level > 1 ? { ...host, variant: `v${level}` } : host;
}

function checkRunnable(state: StageState, platform: Platform): void {
  state.platform = platform;
  if (platformMatchRank(runnablePlatform(platform), platform) !== undefined) return;
  const run = state.vertices.find((v) => v.op.kind === 'run');
  if (!run) return;
  throw new BuildError(
    'PLATFORM_CANNOT_RUN',
    `RUN cannot execute ${formatPlatform(platform)} binaries on this ${formatPlatform(hostPlatform())} host`,
    {
      location: run.location,
      hint: 'run such steps in a stage FROM --platform=$BUILDPLATFORM and copy their results',
    },
  );
}
