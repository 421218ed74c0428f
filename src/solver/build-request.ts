/**
 * What the CLI asks the engine to build. Every flag of `kiln build` and `kiln executor` ends up here,
 * already validated, so the engine never parses strings a user typed.
 */

export type OutputSpec =
  | { type: 'oci'; dest: string; tar: boolean; names: string[] }
  | { type: 'docker'; dest: string; names: string[] }
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string }
  | { type: 'image'; names: string[]; push: boolean };

export type CacheSpec =
  | { type: 'registry'; ref: string; mode: 'min' | 'max' }
  | { type: 'local'; dir: string; mode: 'min' | 'max' };

export type NetworkMode = 'default' | 'none' | 'host';
export type Isolation = 'auto' | 'userns' | 'chroot' | 'none';

export interface SecretSpec {
  id: string;
  source: { kind: 'file'; path: string } | { kind: 'env'; name: string };
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
  network: NetworkMode;
  isolation: Isolation;
  insecureRegistries: string[];
  registryMirrors: string[];
  /** Clamp new layer mtimes to SOURCE_DATE_EPOCH (kaniko --reproducible, rewrite-timestamp=true). */
  rewriteTimestamp: boolean;
  /** Maximum number of steps running at once. */
  concurrency: number;
}
