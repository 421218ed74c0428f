import { DockerfileError, type SourceLocation } from '../../errors.js';
import type { CopySource } from '../../graph/plan.js';
import type { Platform } from '../../image/oci-types.js';
import { parseAddSource, redactUrl } from '../../worker/fileops/add-source.js';
import { argAt, chompHeredocContent, flagAt, keywordAt } from '../dockerfile/index.js';
import type { Command, CommandOf, InlineFile } from '../instructions/commands.js';
import { checkChmod, checkImageReference, climbsAboveRoot } from './check-words.js';
import {
  dispatchCmd,
  dispatchEntrypoint,
  dispatchEnv,
  dispatchExpose,
  dispatchHealthcheck,
  dispatchLabel,
  dispatchMaintainer,
  dispatchOnbuild,
  dispatchShell,
  dispatchStopSignal,
  dispatchUser,
  dispatchVolume,
  type LocatedPair,
} from './dispatch-config.js';
import { dispatchArg, dispatchCopy, dispatchRun, dispatchWorkdir } from './dispatch-fs.js';
import { type Expander, expanderFor } from './expand.js';
import { runHeredoc } from './run-heredoc.js';
import { runMounts } from './run-mounts.js';
import type { StageState } from './stage-state.js';

export interface DispatchContext {
  escape: string;
  buildArgs: Map<string, string>;
  metaArgs: Map<string, string>;
  proxyArgs: Map<string, string>;
  /** The index of an earlier stage with this name (or, with byIndex, number), if any. */
  stageIndex(name: string, byIndex?: boolean): number | undefined;
  platform: Platform;
  /** Reports a warning about the Dockerfile (the build goes on). */
  warn?: (warning: { message: string; file: string; line: number; column: number }) => void;
}

const MS_TO_NS = 1_000_000;

/** Applies one typed command to the stage being dispatched. */
export function dispatchCommand(state: StageState, cmd: Command, ctx: DispatchContext): void {
  const location = keywordAt(cmd.location);
  const x = expanderFor(state, ctx.escape, location);
  const arg = (i: number): SourceLocation => argAt(cmd.location, i);
  // ENV and LABEL arguments are key, value, separator triples.
  const pairs = (kvs: { key: string; value: string }[]): LocatedPair[] =>
    kvs.map((kv, i) => [kv.key, kv.value, arg(3 * i), arg(3 * i + 1)]);

  switch (cmd.kind) {
    case 'env':
      dispatchEnv(state, x, pairs(cmd.env));
      return;
    case 'label':
      dispatchLabel(state, x, pairs(cmd.labels));
      return;
    case 'maintainer':
      dispatchMaintainer(state, cmd.maintainer);
      return;
    case 'user':
      dispatchUser(state, x.at(arg(0)), cmd.user);
      return;
    case 'expose':
      dispatchExpose(state, x, cmd.ports, arg);
      return;
    case 'volume':
      dispatchVolume(state, x, cmd.volumes, arg);
      return;
    case 'stopsignal':
      dispatchStopSignal(state, x.at(arg(0)), cmd.signal, arg(0));
      return;
    case 'shell':
      dispatchShell(state, cmd.shell);
      return;
    case 'onbuild':
      dispatchOnbuild(state, cmd.expression);
      return;
    case 'cmd':
      dispatchCmd(state, cmd.command.cmdLine, !cmd.command.prependShell);
      return;
    case 'entrypoint':
      dispatchEntrypoint(state, cmd.command.cmdLine, !cmd.command.prependShell);
      return;
    case 'healthcheck':
      dispatchHealthcheck(state, {
        Test: cmd.health.test,
        ...(cmd.health.intervalMs ? { Interval: cmd.health.intervalMs * MS_TO_NS } : {}),
        ...(cmd.health.timeoutMs ? { Timeout: cmd.health.timeoutMs * MS_TO_NS } : {}),
        ...(cmd.health.startPeriodMs ? { StartPeriod: cmd.health.startPeriodMs * MS_TO_NS } : {}),
        ...(cmd.health.startIntervalMs
          ? { StartInterval: cmd.health.startIntervalMs * MS_TO_NS }
          : {}),
        ...(cmd.health.retries ? { Retries: cmd.health.retries } : {}),
      });
      return;
    case 'arg':
      dispatchArg(
        state,
        x,
        cmd.args.map((a, i) => ({
          name: a.key,
          ...(a.value === undefined ? {} : { value: a.value }),
          at: arg(i),
        })),
        ctx.buildArgs,
        ctx.metaArgs,
      );
      return;
    case 'workdir':
      dispatchWorkdir(state, x.at(arg(0)), cmd.path, location);
      return;
    case 'run':
      dispatchRunCommand(state, cmd, ctx, location);
      return;
    case 'copy':
    case 'add':
      dispatchCopyCommand(state, cmd, x, ctx, location);
      return;
  }
}

function dispatchRunCommand(
  state: StageState,
  cmd: CommandOf<'run'>,
  ctx: DispatchContext,
  location: SourceLocation,
): void {
  if (cmd.security === 'insecure') {
    throw new DockerfileError(
      'RUN_SECURITY_UNSUPPORTED',
      'RUN --security=insecure is not supported: kiln never runs privileged steps',
      flagAt(cmd.location, 'security'),
    );
  }
  const heredoc = cmd.command.files.length > 0 ? runHeredoc(cmd.command, location) : undefined;
  const written = cmd.command.cmdLine;
  dispatchRun(
    state,
    {
      args: heredoc?.args ?? written,
      json: !cmd.command.prependShell,
      ...(heredoc === undefined
        ? {}
        : { shown: written.join(' ') + (heredoc.summary ? ` (${heredoc.summary})` : '') }),
      ...(heredoc?.script === undefined ? {} : { script: heredoc.script }),
      ...(cmd.network === undefined ? {} : { network: cmd.network }),
      proxyArgs: ctx.proxyArgs,
      mounts: runMounts(state, expanderFor(state, ctx.escape, location), cmd.mounts, ctx, (i) =>
        flagAt(cmd.location, 'mount', i),
      ),
    },
    location,
  );
}

function dispatchCopyCommand(
  state: StageState,
  cmd: CommandOf<'copy'> | CommandOf<'add'>,
  x: Expander,
  ctx: DispatchContext,
  location: SourceLocation,
): void {
  let from: CopySource = { kind: 'context' };
  let fromText: string | undefined;
  const fromAt = flagAt(cmd.location, 'from');
  if (cmd.kind === 'copy' && cmd.from !== undefined) {
    fromText = x.word(cmd.from, fromAt);
    from = copySource(fromText, state, ctx, fromAt);
  }
  if (cmd.kind === 'add') checkAddFlags(cmd, x);
  else checkCopySources(cmd, x);
  const sourceAt = (i: number): SourceLocation => cmd.sources.sourceLocations[i] ?? location;
  for (const [i, source] of cmd.sources.sourcePaths.entries()) {
    const expanded = x.word(source, sourceAt(i));
    if (parseAddSource(expanded).kind === 'local' && climbsAboveRoot(expanded)) {
      // BuildKit joins a source to '/', so '..' above the root stays at the root (moby/buildkit
      // #2131): `COPY ../x` copies the context's `x`. The classic builder refused it.
      ctx.warn?.({
        message: `${expanded}: '..' above the context root stays at the root, as BuildKit reads it`,
        ...sourceAt(i),
      });
    }
  }
  const sourceCount = cmd.sources.sourcePaths.length + cmd.sources.sourceContents.length;
  if (sourceCount > 1 && !x.word(cmd.sources.destPath, cmd.sources.destLocation).endsWith('/')) {
    throw new DockerfileError(
      'COPY_DEST_NOT_DIR',
      'When using COPY with more than one source file, the destination must be a directory and end with a /',
      cmd.sources.destLocation,
    );
  }
  if (cmd.chmod !== undefined) {
    const chmodAt = flagAt(cmd.location, 'chmod');
    checkChmod(x.word(cmd.chmod, chmodAt), chmodAt);
  }
  dispatchCopy(
    state,
    x,
    {
      instruction: cmd.kind === 'add' ? 'ADD' : 'COPY',
      from,
      ...(fromText === undefined ? {} : { fromText }),
      sources: cmd.sources.sourcePaths,
      sourceLocations: cmd.sources.sourcePaths.map((_, i) => sourceAt(i)),
      dest: cmd.sources.destPath,
      destLocation: cmd.sources.destLocation,
      flagLocations: {
        from: fromAt,
        chown: flagAt(cmd.location, 'chown'),
        chmod: flagAt(cmd.location, 'chmod'),
        checksum: flagAt(cmd.location, 'checksum'),
        exclude: (i) => flagAt(cmd.location, 'exclude', i),
      },
      ...(cmd.chown === undefined ? {} : { chown: cmd.chown }),
      ...(cmd.chmod === undefined ? {} : { chmod: cmd.chmod }),
      link: cmd.link,
      parents: cmd.kind === 'copy' ? cmd.parents : false,
      exclude: cmd.exclude,
      inline: cmd.sources.sourceContents.map((f) => inlineContent(f, x)),
      ...(cmd.kind === 'add' && cmd.checksum !== undefined ? { checksum: cmd.checksum } : {}),
      ...(cmd.kind === 'add' && cmd.keepGitDir !== undefined ? { keepGitDir: cmd.keepGitDir } : {}),
      ...(cmd.kind === 'add' && cmd.unpack !== undefined ? { unpack: cmd.unpack } : {}),
    },
    location,
  );
}

/**
 * COPY --from names an earlier stage (by name or index), else an image. A number names a stage
 * only: one that is not an earlier stage is an error here, not a pull of an image called `3`.
 */
function copySource(
  fromText: string,
  state: StageState,
  ctx: DispatchContext,
  at: SourceLocation,
): CopySource {
  const index = ctx.stageIndex(fromText, true);
  if (index !== undefined) return { kind: 'stage', stage: index };
  if (fromText === String(state.index) || fromText.toLowerCase() === state.label) {
    throw new DockerfileError(
      'COPY_FROM_SELF',
      `COPY --from=${fromText}: a stage cannot copy from itself`,
      at,
    );
  }
  if (/^[0-9]+$/.test(fromText)) {
    throw new DockerfileError(
      'COPY_FROM_UNKNOWN_STAGE',
      `COPY --from=${fromText}: there is no stage ${fromText} before this one`,
      at,
      `stages are numbered from 0; this is stage ${state.index}`,
    );
  }
  checkImageReference(fromText, at);
  return { kind: 'image', ref: fromText, platform: ctx.platform };
}

/** URLs and git repositories are for ADD; BuildKit refuses them in COPY rather than look for a file. */
function checkCopySources(cmd: CommandOf<'copy'>, x: Expander): void {
  if (cmd.from !== undefined) return;
  for (const [i, source] of cmd.sources.sourcePaths.entries()) {
    const at = argAtOr(cmd, i);
    const expanded = x.word(source, at);
    const kind = parseAddSource(expanded).kind;
    if (kind === 'local') continue;
    throw new DockerfileError(
      'COPY_REMOTE_SOURCE',
      `source can't be a ${kind === 'http' ? 'URL' : 'git repository'} for COPY: ${redactUrl(expanded)}`,
      at,
      'use ADD to fetch it',
    );
  }
}

function argAtOr(cmd: CommandOf<'copy'> | CommandOf<'add'>, i: number): SourceLocation {
  return cmd.sources.sourceLocations[i] ?? keywordAt(cmd.location);
}

/** ADD --checksum is for URLs (a digest) and git sources (a commit), as in BuildKit. */
function checkAddFlags(cmd: CommandOf<'add'>, x: Expander): void {
  if (cmd.checksum === undefined) return;
  const location = flagAt(cmd.location, 'checksum');
  const kinds = cmd.sources.sourcePaths.map(
    (s, i) => parseAddSource(x.word(s, argAtOr(cmd, i))).kind,
  );
  const checksum = x.word(cmd.checksum, location);
  if (kinds.length === 0 || kinds.some((k) => k === 'local')) {
    throw new DockerfileError(
      'ADD_CHECKSUM_LOCAL',
      'ADD --checksum can only be used with HTTP(S) and git sources',
      location,
    );
  }
  if (kinds.includes('http') && !/^sha(256|384|512):[0-9a-f]+$/.test(checksum)) {
    throw new DockerfileError(
      'ADD_CHECKSUM_INVALID',
      `ADD --checksum=${checksum}: expected sha256:<hex digest>`,
      location,
    );
  }
  if (kinds.includes('git') && !/^[0-9a-f]{7,64}$/.test(checksum)) {
    throw new DockerfileError(
      'ADD_CHECKSUM_INVALID',
      `ADD --checksum=${checksum}: a git source's checksum is a commit id`,
      location,
    );
  }
}

function inlineContent(file: InlineFile, x: Expander): { name: string; content: string } {
  const data = file.chomp ? chompHeredocContent(file.data) : file.data;
  return { name: file.name, content: file.expand ? x.word(data) : data };
}
