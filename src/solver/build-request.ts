import type { Compression } from '../image/media-types.js';

/**
 * What the CLI asks the engine to build. Every flag of `kiln build` and `kiln executor` ends up here,
 * already validated, so the engine never parses strings a user typed.
 */

/** `compression=`, `compression-level=` and `force-compression=` of an image output. */
export interface OutputCompression {
  compression: Compression;
  /** gzip 0-9, zstd 1-19; absent means the compressor's default. */
  level?: number;
  /** Recompress layers whose blob already has the wanted compression. */
  force: boolean;
}

/** What the outputs that write an image (oci, docker, image) may add to their spec. */
export interface ImageOutputOptions {
  /** Absent: layers as the cache holds them (gzip for layers kiln made). */
  compression?: OutputCompression;
  /** `rewrite-timestamp=true`: clamp the mtimes in new layers to SOURCE_DATE_EPOCH. */
  rewriteTimestamp?: boolean;
}

export type OutputSpec =
  | ({ type: 'oci'; dest: string; tar: boolean; names: string[] } & ImageOutputOptions)
  | ({ type: 'docker'; dest: string; names: string[] } & ImageOutputOptions)
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string }
  | ({ type: 'image'; names: string[]; push: boolean } & ImageOutputOptions);

export type CacheSpec =
  | { type: 'registry'; ref: string; mode: 'min' | 'max' }
  | { type: 'local'; dir: string; mode: 'min' | 'max' };

export type NetworkMode = 'default' | 'none' | 'host';
export type Isolation = 'auto' | 'userns' | 'chroot' | 'none';

export interface SecretSpec {
  id: string;
  source: { kind: 'file'; path: string } | { kind: 'env'; name: string };
}

/** `--ssh ID[=SOCKET]`: an SSH agent socket that `RUN --mount=type=ssh,id=ID` forwards. */
export interface SshSpec {
  id: string;
  /** Absolute path of the agent's unix socket. */
  socket: string;
}

export interface BuildRequest {
  /** Absolute path of the build context directory. */
  contextDir: string;
  /** `kiln build -`: the context (a tar) or the Dockerfile comes from stdin. */
  contextFromStdin: boolean;
  /** Absolute path of the Dockerfile; its text is read by the engine. */
  dockerfilePath: string;
  /** `-f -`: the Dockerfile is read from stdin (by the process that builds, after any re-exec). */
  dockerfileFromStdin: boolean;
  /** Name shown in errors (the path as the user typed it, or `Dockerfile` for stdin). */
  dockerfileDisplayName: string;
  target?: string;
  buildArgs: Map<string, string>;
  labels: Map<string, string>;
  platform?: string;
  tags: string[];
  outputs: OutputSpec[];
  cacheDir: string;
  noCache: boolean;
  cacheFrom: CacheSpec[];
  cacheTo: CacheSpec[];
  secrets: SecretSpec[];
  /** Absent means none (callers that build requests themselves need not know about it). */
  ssh?: SshSpec[];
  network: NetworkMode;
  isolation: Isolation;
  /** `kiln executor`: with auto isolation, build without namespaces inside a restricted container. */
  containerFallback?: boolean;
  insecureRegistries: string[];
  registryMirrors: string[];
  /** Clamp new layer mtimes to SOURCE_DATE_EPOCH (kaniko --reproducible, rewrite-timestamp=true). */
  rewriteTimestamp: boolean;
  /**
   * `kiln executor` without --skip-push-permission-check: before anything is built, check that
   * every pushed name's repository accepts a push from us, as kaniko does.
   */
  checkPushFirst?: boolean;
  /** How the warning for a build without outputs says to add one, in the command's own flags. */
  noOutputHint?: string;
  /** Maximum number of steps running at once. */
  concurrency: number;
}
