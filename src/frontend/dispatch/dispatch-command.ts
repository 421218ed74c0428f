import { DockerfileError, type SourceLocation } from '../../errors.js';
import type { CopySource } from '../../graph/plan.js';
import type { Platform } from '../../image/oci-types.js';
import { parseAddSource, redactUrl } from '../../worker/fileops/add-source.js';
import { chompHeredocContent } from '../dockerfile/index.js';
import type { Command, CommandOf, InlineFile } from '../instructions/commands.js';
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
}

const MS_TO_NS = 1_000_000;

/** Applies one typed command to the stage being dispatched. */
export function dispatchCommand(state: StageState, cmd: Command, ctx: DispatchContext): void {
  const location: SourceLocation = {
    file: cmd.location.file,
    line: cmd.location.line,
    column: cmd.location.column,
  };
  const x = expanderFor(state, ctx.escape, location);
  const pairs = (kvs: { key: string; value: string }[]): [string, string][] =>
    kvs.map((kv) => [kv.key, kv.value]);

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
      dispatchUser(state, x, cmd.user);
      return;
    case 'expose':
      dispatchExpose(state, x, cmd.ports, location);
      return;
    case 'volume':
      dispatchVolume(state, x, cmd.volumes, location);
      return;
    case 'stopsignal':
      dispatchStopSignal(state, x, cmd.signal, location);
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
        cmd.args.map((a) => ({
          name: a.key,
          ...(a.value === undefined ? {} : { value: a.value }),
        })),
        ctx.buildArgs,
        ctx.metaArgs,
      );
      return;
    case 'workdir':
      dispatchWorkdir(state, x, cmd.path, location);
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
      location,
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
      mounts: runMounts(state, expanderFor(state, ctx.escape, location), cmd.mounts, ctx, location),
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
  if (cmd.kind === 'copy' && cmd.from !== undefined) {
    fromText = x.word(cmd.from);
    const index = ctx.stageIndex(fromText, true);
    if (index !== undefined) from = { kind: 'stage', stage: index };
    else if (fromText === String(state.index) || fromText.toLowerCase() === state.label) {
      throw new DockerfileError(
        'COPY_FROM_SELF',
        `COPY --from=${fromText}: a stage cannot copy from itself`,
        location,
      );
    } else from = { kind: 'image', ref: fromText, platform: ctx.platform };
  }
  if (cmd.kind === 'add') checkAddFlags(cmd, x, location);
  else checkCopySources(cmd, x, location);
  dispatchCopy(
    state,
    x,
    {
      instruction: cmd.kind === 'add' ? 'ADD' : 'COPY',
      from,
      ...(fromText === undefined ? {} : { fromText }),
      sources: cmd.sources.sourcePaths,
      dest: cmd.sources.destPath,
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

/** URLs and git repositories are for ADD; BuildKit refuses them in COPY rather than look for a file. */
function checkCopySources(cmd: CommandOf<'copy'>, x: Expander, location: SourceLocation): void {
  if (cmd.from !== undefined) return;
  for (const source of cmd.sources.sourcePaths) {
    const kind = parseAddSource(x.word(source)).kind;
    if (kind === 'local') continue;
    throw new DockerfileError(
      'COPY_REMOTE_SOURCE',
      `source can't be a ${kind === 'http' ? 'URL' : 'git repository'} for COPY: ${redactUrl(x.word(source))}`,
      location,
      'use ADD to fetch it',
    );
  }
}

/** ADD --checksum is for URLs (a digest) and git sources (a commit), as in BuildKit. */
function checkAddFlags(cmd: CommandOf<'add'>, x: Expander, location: SourceLocation): void {
  if (cmd.checksum === undefined) return;
  const kinds = cmd.sources.sourcePaths.map((s) => parseAddSource(x.word(s)).kind);
  const checksum = x.word(cmd.checksum);
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
