/**
 * The build graph the frontend hands to the solver: per stage, a chain of vertices (one per
 * filesystem-changing instruction) on top of a base, plus the image config the stage ends with.
 * Every word is already expanded; the solver never looks at Dockerfile text again.
 */
import type { SourceLocation } from '../errors.js';
import type { ImageConfig, Platform } from '../image/oci-types.js';
import type { NetworkMode } from '../solver/build-request.js';

/** Where a stage starts: nothing, an image from a registry, or another stage's result. */
export type BaseSpec =
  | { kind: 'scratch' }
  | { kind: 'image'; ref: string; platform: Platform }
  | { kind: 'stage'; stage: number };

/** Where COPY/ADD --from reads files. */
export type CopySource =
  | { kind: 'context' }
  | { kind: 'stage'; stage: number }
  | { kind: 'image'; ref: string; platform: Platform };

export interface RunOp {
  kind: 'run';
  argv: string[];
  /** The environment of the process: image ENV, then build args in scope ('K=V'). */
  env: string[];
  /** Proxy variables from --build-arg: in the environment, never in cache keys or history. */
  proxyEnv: string[];
  cwd: string;
  /** USER as written (`name`, `uid`, `name:group`, empty for none); resolved at execution. */
  user: string;
  network: NetworkMode;
  /** RUN --mount, absent when there are none (so plain RUN keys stay as they were). */
  mounts?: RunMount[];
  /**
   * `RUN <<EOF` whose body starts with `#!`: the body, mounted read-only and executable at
   * /dev/pipes/<name> for the step (argv runs that path), never in the layer.
   */
  heredocScript?: { name: string; content: string };
}

/**
 * A RUN --mount with its words expanded and its target absolute. Only what selects content is
 * here: secret values and agent sockets are looked up at execution, so they never reach a key.
 */
export type RunMount =
  | { type: 'bind'; target: string; source: string; from: CopySource; readOnly: boolean }
  | {
      type: 'cache';
      target: string;
      id: string;
      sharing: 'shared' | 'private' | 'locked';
      /** Seeds a new cache directory (its content at `source`). */
      from?: CopySource;
      source: string;
      readOnly: boolean;
      mode: number;
      uid: number;
      gid: number;
    }
  | { type: 'tmpfs'; target: string; size?: number }
  | {
      type: 'secret';
      id: string;
      /** The file to mount; absent when the secret only goes to `env`. */
      target?: string;
      env?: string;
      required: boolean;
      mode: number;
      uid: number;
      gid: number;
    }
  | {
      type: 'ssh';
      id: string;
      target: string;
      required: boolean;
      mode: number;
      uid: number;
      gid: number;
    };

export interface CopyOp {
  kind: 'copy';
  /** 'COPY' or 'ADD': ADD extracts local archives. */
  instruction: 'COPY' | 'ADD';
  from: CopySource;
  sources: string[];
  /** Absolute destination; a trailing '/' means a directory. */
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** Inline files from heredocs: name -> content. */
  inline?: { name: string; content: string }[];
  /** ADD --checksum: the digest a URL's content must have, or a git source's commit. */
  checksum?: string;
  /** ADD --keep-git-dir=true: git sources keep their `.git`. */
  keepGitDir?: boolean;
  /** ADD --unpack=false: local archives are copied as files, not extracted. */
  unpack?: boolean;
}

/** WORKDIR makes its directory (owned by the current USER, as BuildKit does) when it is missing. */
export interface MkdirOp {
  kind: 'mkdir';
  path: string;
  user: string;
}

export type Op = RunOp | CopyOp | MkdirOp;

export interface Vertex {
  /** Stable within a run: `s<stage>-<n>`. */
  id: string;
  /** As progress shows it: `[build 3/4] RUN npm run build`. */
  name: string;
  op: Op;
  /** The history line Docker writes for this step (`RUN /bin/sh -c make # buildkit`). */
  createdBy: string;
  location: SourceLocation;
  /** Where words of the instruction stand, for failures found only while the step runs. */
  words?: VertexWords;
}

export interface VertexWords {
  /** COPY --from. */
  from?: SourceLocation;
  /** COPY/ADD sources as expanded (the op's `sources`), each with where it is written. */
  sources?: { source: string; at: SourceLocation }[];
}

/** One history entry of the stage; `vertex` is set when the entry may carry a layer. */
export interface HistoryItem {
  createdBy: string;
  vertex?: Vertex;
}

export interface StagePlan {
  index: number;
  name?: string;
  base: BaseSpec;
  vertices: Vertex[];
  /** History entries of the instructions of this stage, in order (base history not included). */
  history: HistoryItem[];
  /** The image config as this stage leaves it (rootfs and history are filled in by the solver). */
  config: ImageConfig;
  /** Other stages this one reads from (FROM stage, COPY --from, RUN --mount from). */
  dependsOn: number[];
  location: SourceLocation;
}

export interface BuildPlan {
  stages: StagePlan[];
  /** The index of the stage to export (the --target, else the last). */
  target: number;
}
