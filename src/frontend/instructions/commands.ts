/**
 * Typed Dockerfile commands. Words stay unexpanded: the dispatcher expands them with each
 * stage's environment, as BuildKit's dispatch does.
 */

import type { SourceLocation } from '../../errors.js';
import type { Heredoc, InstructionLocation } from '../dockerfile/instruction.js';
import type { MountSpec } from './mount-spec.js';

interface Base {
  /** The instruction as written (continuations joined), for step names and cache keys. */
  original: string;
  location: InstructionLocation;
}

export interface KeyValue {
  key: string;
  value: string;
  /** `ENV k v` (legacy form, no `=`). */
  legacy: boolean;
}

/** A file given inline as a heredoc (a RUN script or a COPY/ADD source). */
export interface InlineFile {
  name: string;
  data: string;
  /** Whether `$var` in the data are expanded. */
  expand: boolean;
  chomp: boolean;
  fd: number;
}

export interface CommandLine {
  /** Shell form: one string; exec form: the argv. */
  cmdLine: string[];
  /** Shell form: run through the stage's SHELL. */
  prependShell: boolean;
  files: InlineFile[];
}

export interface SourcesAndDest {
  sourcePaths: string[];
  /** Where each of `sourcePaths` is written. */
  sourceLocations: SourceLocation[];
  sourceContents: InlineFile[];
  destPath: string;
  destLocation: SourceLocation;
}

export interface HealthConfig {
  /** ['NONE'], ['CMD', ...argv] or ['CMD-SHELL', command]. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  startIntervalMs: number;
  retries: number;
}

export type Command =
  | (Base & { kind: 'env'; env: KeyValue[] })
  | (Base & { kind: 'maintainer'; maintainer: string })
  | (Base & { kind: 'label'; labels: KeyValue[] })
  | (Base & {
      kind: 'add';
      sources: SourcesAndDest;
      chown?: string;
      chmod?: string;
      link: boolean;
      checksum?: string;
      keepGitDir?: boolean;
      unpack?: boolean;
      exclude: string[];
    })
  | (Base & {
      kind: 'copy';
      sources: SourcesAndDest;
      from?: string;
      chown?: string;
      chmod?: string;
      link: boolean;
      parents: boolean;
      exclude: string[];
    })
  | (Base & { kind: 'onbuild'; expression: string })
  | (Base & { kind: 'workdir'; path: string })
  | (Base & {
      kind: 'run';
      command: CommandLine;
      mounts: MountSpec[];
      network?: 'default' | 'none' | 'host';
      security?: 'sandbox' | 'insecure';
    })
  | (Base & { kind: 'cmd'; command: CommandLine })
  | (Base & { kind: 'entrypoint'; command: CommandLine })
  | (Base & { kind: 'healthcheck'; health: HealthConfig })
  | (Base & { kind: 'expose'; ports: string[] })
  | (Base & { kind: 'user'; user: string })
  | (Base & { kind: 'volume'; volumes: string[] })
  | (Base & { kind: 'stopsignal'; signal: string })
  | (Base & { kind: 'arg'; args: ArgDef[] })
  | (Base & { kind: 'shell'; shell: string[] });

export type CommandKind = Command['kind'];
export type CommandOf<K extends CommandKind> = Extract<Command, { kind: K }>;

export interface ArgDef {
  key: string;
  /** undefined for `ARG name` without a default. */
  value?: string;
}

export type ArgCommand = CommandOf<'arg'>;

export interface Stage {
  /** Lower-cased `AS` name. */
  name?: string;
  index: number;
  /** The image or stage reference, unexpanded (may contain `$ARG`). */
  baseName: string;
  /** `--platform`, unexpanded. */
  platform?: string;
  commands: Command[];
  original: string;
  location: InstructionLocation;
}

export type { Heredoc };
