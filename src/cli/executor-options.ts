import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import type { WarningEvent } from '../events/events.js';
import { parseReference, repositoryName } from '../registry/index.js';
import type {
  BuildRequest,
  CacheSpec,
  ImageOutputOptions,
  OutputCompression,
  OutputSpec,
} from '../solver/build-request.js';
import { defaultCacheDir, parseKeyValues } from './build-options.js';
import type { ExecutorArgs } from './executor-args.js';
import { findFlag } from './executor-flags.js';
import { refusePushByDigest } from './output-spec.js';

/** What `kiln executor` runs: the request, where result files go, and what to warn about. */
export interface ExecutorPlan {
  request: BuildRequest;
  progress: 'auto' | 'plain' | 'json' | 'quiet';
  digestFile?: string;
  imageNameDigestFile?: string;
  imageNameTagDigestFile?: string;
  /** SOURCE_DATE_EPOCH to put in the environment of the build (for --reproducible). */
  sourceDateEpoch?: string;
  /** The destinations, as the user wrote them (the name files list one line per destination). */
  destinations: string[];
  warnings: WarningEvent[];
}

/** The environment and filesystem the mapping looks at; the real ones outside tests. */
export interface ExecutorHost {
  cwd: string;
  env: NodeJS.ProcessEnv;
  exists(p: string): boolean;
}

export const realHost = (): ExecutorHost => ({
  cwd: process.cwd(),
  env: process.env,
  exists: (p) => fs.existsSync(p),
});

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

function resolveContext(args: ExecutorArgs, host: ExecutorHost): string {
  if (args.strings.has('bucket')) {
    throw new InputError('CONTEXT_UNSUPPORTED', '--bucket (a GCS context) is not supported', {
      hint: 'fetch the context into a directory first and pass --context dir://DIR',
    });
  }
  const text = args.strings.get('context') ?? '/workspace/';
  const scheme = SCHEME.exec(text)?.[1];
  if (scheme !== undefined && scheme !== 'dir') {
    throw new InputError('CONTEXT_UNSUPPORTED', `--context ${scheme}:// is not supported`, {
      hint: 'only local directories are: fetch the context first and pass --context dir://DIR',
    });
  }
  const dir = path.resolve(host.cwd, scheme === 'dir' ? text.slice('dir://'.length) : text);
  const sub = args.strings.get('context-sub-path');
  return sub ? path.join(dir, sub) : dir;
}

/**
 * kaniko's rule: the Dockerfile path as given when it exists, else relative to the context.
 * Errors name it as given in the first case, by its full path in the second (where the path as
 * given would name another file).
 */
function resolveDockerfile(
  args: ExecutorArgs,
  contextDir: string,
  host: ExecutorHost,
): { path: string; displayName: string } {
  const file = args.strings.get('dockerfile') ?? 'Dockerfile';
  if (/^https?:\/\//.test(file)) {
    throw new InputError('DOCKERFILE_UNSUPPORTED', 'a Dockerfile URL is not supported', {
      hint: 'download it into the context and pass its path with --dockerfile',
    });
  }
  const asGiven = path.resolve(host.cwd, file);
  if (host.exists(asGiven)) return { path: asGiven, displayName: file };
  const inContext = path.resolve(contextDir, file);
  if (host.exists(inContext)) return { path: inContext, displayName: inContext };
  throw new InputError('DOCKERFILE_NOT_FOUND', `Dockerfile not found: ${file}`, {
    hint: 'please provide a valid path to a Dockerfile within the build context with --dockerfile',
  });
}

export function progressOf(args: ExecutorArgs): ExecutorPlan['progress'] {
  const format = args.strings.get('log-format') ?? 'color';
  const level = args.strings.get('verbosity') ?? 'info';
  const levels = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic'];
  if (!levels.includes(level)) {
    throw new InputError('FLAG_INVALID', `--verbosity: unknown level "${level}"`, {
      hint: 'valid levels: trace, debug, info, warn, error, fatal, panic',
    });
  }
  if (format === 'json') return 'json';
  if (format !== 'text' && format !== 'color') {
    throw new InputError('FLAG_INVALID', `--log-format: unknown format "${format}"`, {
      hint: 'valid formats: text, color, json',
    });
  }
  if (['error', 'fatal', 'panic'].includes(level)) return 'quiet';
  return format === 'text' ? 'plain' : 'auto';
}

function registryHost(ref: string): string {
  return parseReference(ref).registry;
}

/** kaniko infers the cache repository from the first destination: REPOSITORY/cache. */
function cacheSpecs(args: ExecutorArgs, destinations: string[], noPush: boolean, cwd: string) {
  if (args.bools.get('cache') !== true) return { from: [], to: [], host: undefined };
  let repo = args.strings.get('cache-repo');
  if (!repo) {
    if (noPush || destinations.length === 0) {
      throw new InputError(
        'FLAG_INVALID',
        'cache flags invalid: with --no-push, specify the cache repository with --cache-repo',
      );
    }
    repo = `${repositoryName(parseReference(destinations[0] as string))}/cache`;
  }
  const spec: CacheSpec = repo.startsWith('oci:')
    ? { type: 'local', dir: path.resolve(cwd, repo.slice(4)), mode: 'max' }
    : { type: 'registry', ref: repo, mode: 'max' };
  const to = args.bools.get('no-push-cache') === true ? [] : [spec];
  return { from: [spec], to, host: spec.type === 'registry' ? registryHost(repo) : undefined };
}

/** kaniko's --compression and --compression-level, for every output that writes an image. */
function compressionOf(args: ExecutorArgs): ImageOutputOptions {
  const name = args.strings.get('compression');
  const levelText = args.strings.get('compression-level');
  const level = levelText === undefined ? -1 : Number(levelText);
  if (name === undefined && level < 0) return {};
  if (name !== undefined && name !== 'gzip' && name !== 'zstd') {
    throw new InputError('FLAG_INVALID', `--compression: unknown algorithm "${name}"`, {
      hint: 'valid values: gzip, zstd',
    });
  }
  const compression: OutputCompression = {
    compression: name ?? 'gzip',
    ...(level >= 0 ? { level } : {}),
    force: false,
  };
  return { compression };
}

function outputsOf(args: ExecutorArgs, destinations: string[], noPush: boolean, cwd: string) {
  const options = compressionOf(args);
  const outputs: OutputSpec[] = [];
  if (!noPush) outputs.push({ type: 'image', names: [...destinations], push: true, ...options });
  const tarPath = args.strings.get('tar-path');
  if (tarPath) {
    const dest = path.resolve(cwd, tarPath);
    outputs.push({ type: 'docker', dest, names: [...destinations], ...options });
  }
  const layout = args.strings.get('oci-layout-path');
  if (layout) {
    const names = [...destinations];
    outputs.push({ type: 'oci', dest: path.resolve(cwd, layout), tar: false, names, ...options });
  }
  return outputs;
}

function mirrorsOf(args: ExecutorArgs, env: NodeJS.ProcessEnv, warnings: WarningEvent[]) {
  const mirrors = [...(args.lists.get('registry-mirror') ?? [])];
  if (env.KANIKO_REGISTRY_MIRROR) mirrors.push(env.KANIKO_REGISTRY_MIRROR);
  for (const entry of args.lists.get('registry-map') ?? []) {
    const [from, to] = entry.split('=', 2) as [string, string];
    if (['docker.io', 'index.docker.io'].includes(from)) {
      mirrors.push(...to.split(',').filter((m) => m !== ''));
    } else {
      warnings.push({
        type: 'warning',
        message: `--registry-map ${entry}: kiln can only map docker.io to mirrors; ignored`,
      });
    }
  }
  return mirrors;
}

function flagWarnings(args: ExecutorArgs): WarningEvent[] {
  const warnings: WarningEvent[] = [];
  for (const name of args.given) {
    const flag = findFlag(name);
    if (flag?.replacedBy) {
      warnings.push({
        type: 'warning',
        message: `--${name} is deprecated, use --${flag.replacedBy}`,
      });
    }
    const effective = findFlag(flag?.replacedBy ?? name);
    if (effective?.ignored) {
      warnings.push({
        type: 'warning',
        message: `--${name} is accepted but has no effect: ${effective.ignored}`,
      });
    }
  }
  return warnings;
}

/**
 * Maps parsed kaniko flags onto a build request with kaniko's defaults: push to every
 * --destination unless --no-push, no step cache unless --cache, the context /workspace.
 */
export function toExecutorPlan(args: ExecutorArgs, host: ExecutorHost): ExecutorPlan {
  if (args.operands.length > 0) {
    throw new InputError('FLAG_INVALID', `unexpected argument "${args.operands[0]}"`, {
      hint: 'kiln executor takes flags only: the context is --context DIR',
    });
  }
  const { env, cwd } = host;
  const destinations = [...(args.lists.get('destination') ?? [])];
  const noPushEnv = env.KANIKO_NO_PUSH;
  const noPush = noPushEnv ? /^(1|t|true)$/i.test(noPushEnv) : args.bools.get('no-push') === true;
  if (!noPush && destinations.length === 0) {
    throw new InputError('FLAG_INVALID', 'you must provide --destination, or use --no-push');
  }
  for (const flag of ['image-name-with-digest-file', 'image-name-tag-with-digest-file']) {
    if (args.strings.get(flag) && destinations.length === 0) {
      throw new InputError('FLAG_INVALID', `--${flag} needs at least one --destination`);
    }
  }
  for (const d of destinations) parseReference(d);
  if (!noPush) refusePushByDigest(destinations, '--destination');

  const progress = progressOf(args);
  const contextDir = resolveContext(args, host);
  const dockerfile = resolveDockerfile(args, contextDir, host);
  const dockerfilePath = dockerfile.path;
  const warnings = flagWarnings(args);
  const cache = cacheSpecs(args, destinations, noPush, cwd);

  const insecure = [
    ...(args.lists.get('insecure-registry') ?? []),
    ...(args.lists.get('skip-tls-verify-registry') ?? []),
  ];
  if (args.bools.get('insecure') || args.bools.get('skip-tls-verify')) {
    // kaniko applies these to pushes: the destinations and the cache repository.
    insecure.push(...destinations.map(registryHost), ...(cache.host ? [cache.host] : []));
  }

  const buildArgs = parseKeyValues(args.lists.get('build-arg') ?? [], '--build-arg', env);
  const reproducible = args.bools.get('reproducible') === true;
  // kaniko's --reproducible puts every timestamp at the Unix epoch: SOURCE_DATE_EPOCH 0 unless
  // the build args or the environment name another. Set in the environment, not as a build arg,
  // so the build does not warn about an unconsumed arg.
  const epochUnset = !buildArgs.has('SOURCE_DATE_EPOCH') && !env.SOURCE_DATE_EPOCH;
  const platform = args.strings.get('custom-platform');
  const target = args.strings.get('target');
  const cacheDir = args.strings.get('cache-dir');

  const request: BuildRequest = {
    contextDir,
    contextFromStdin: false,
    dockerfilePath,
    dockerfileFromStdin: false,
    dockerfileDisplayName: dockerfile.displayName,
    ...(target ? { target } : {}),
    buildArgs,
    labels: parseKeyValues(args.lists.get('label') ?? [], '--label', env),
    ...(platform ? { platform } : {}),
    tags: [...destinations],
    outputs: outputsOf(args, destinations, noPush, cwd),
    cacheDir: cacheDir ? path.resolve(cwd, cacheDir) : defaultCacheDir(env),
    noCache: args.bools.get('cache') !== true,
    cacheFrom: cache.from,
    cacheTo: cache.to,
    secrets: [],
    network: 'default',
    isolation: 'auto',
    containerFallback: true,
    insecureRegistries: [...new Set(insecure)],
    registryMirrors: mirrorsOf(args, env, warnings),
    rewriteTimestamp: reproducible,
    checkPushFirst: !noPush && args.bools.get('skip-push-permission-check') !== true,
    noOutputHint: 'use --destination, --tar-path or --oci-layout-path to export it',
    concurrency: 4,
  };
  const file = (name: string): string | undefined => {
    const v = args.strings.get(name);
    return v ? path.resolve(cwd, v) : undefined;
  };
  const digestFile = file('digest-file');
  const nameFile = file('image-name-with-digest-file');
  const tagFile = file('image-name-tag-with-digest-file');
  return {
    request,
    progress,
    ...(digestFile ? { digestFile } : {}),
    ...(nameFile ? { imageNameDigestFile: nameFile } : {}),
    ...(tagFile ? { imageNameTagDigestFile: tagFile } : {}),
    ...(reproducible && epochUnset ? { sourceDateEpoch: '0' } : {}),
    destinations,
    warnings,
  };
}

/**
 * kaniko's images set DOCKER_CONFIG to KANIKO_DIR/.docker (default /kaniko/.docker); kiln does
 * the same when that directory exists and DOCKER_CONFIG is unset, so mounted credentials work.
 */
export function dockerConfigDefault(args: ExecutorArgs, host: ExecutorHost): string | undefined {
  if (host.env.DOCKER_CONFIG) return undefined;
  const kanikoDir = args.strings.get('kaniko-dir') ?? host.env.KANIKO_DIR ?? '/kaniko';
  const dir = path.join(kanikoDir, '.docker');
  return host.exists(dir) ? dir : undefined;
}
