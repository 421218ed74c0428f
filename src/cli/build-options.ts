import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import type {
  BuildRequest,
  CacheSpec,
  Isolation,
  NetworkMode,
  SecretSpec,
  SshSpec,
} from '../solver/build-request.js';
import { parseCsvFields } from './csv-fields.js';
import { parseOutputSpec, refusePushByDigest } from './output-spec.js';

/** The options of `kiln build` as commander hands them over. */
export interface BuildFlags {
  file?: string;
  tag: string[];
  target?: string;
  buildArg: string[];
  label: string[];
  platform?: string;
  output: string[];
  push?: boolean;
  cacheDir?: string;
  cache?: boolean;
  cacheFrom: string[];
  cacheTo: string[];
  secret: string[];
  /** Absent when the caller has no --ssh flag (kiln executor). */
  ssh?: string[];
  network: string;
  isolation: string;
  insecureRegistry: string[];
  registryMirror: string[];
  progress: string;
  metadataFile?: string;
  iidfile?: string;
}

/** The default cache directory: $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.KILN_CACHE_DIR) return path.resolve(env.KILN_CACHE_DIR);
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'kiln');
}

/** Turns `K=V` or `K` (value from the environment, skipped when unset) flags into a map. */
export function parseKeyValues(
  values: string[],
  flag: string,
  env: NodeJS.ProcessEnv,
): Map<string, string> {
  const result = new Map<string, string>();
  for (const item of values) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === '') throw new InputError('FLAG_INVALID', `${flag}: empty name in "${item}"`);
    if (eq >= 0) result.set(key, item.slice(eq + 1));
    else if (env[key] !== undefined) result.set(key, env[key] ?? '');
  }
  return result;
}

function parseCacheSpec(text: string, flag: string, cwd: string): CacheSpec {
  const fields = new Map(parseCsvFields(text, flag));
  const type = fields.get('type') ?? 'registry';
  const mode = fields.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') {
    throw new InputError('FLAG_INVALID', `${flag}: mode must be min or max, got "${mode}"`);
  }
  if (type === 'registry') {
    const ref = fields.get('ref') ?? (fields.has('type') ? undefined : text);
    if (!ref) throw new InputError('FLAG_INVALID', `${flag} type=registry needs ref=`);
    return { type: 'registry', ref, mode };
  }
  if (type === 'local') {
    const dir = flag === '--cache-to' ? fields.get('dest') : fields.get('src');
    if (!dir) {
      const key = flag === '--cache-to' ? 'dest' : 'src';
      throw new InputError('FLAG_INVALID', `${flag} type=local needs ${key}=`);
    }
    return { type: 'local', dir: path.resolve(cwd, dir), mode };
  }
  throw new InputError('FLAG_INVALID', `${flag}: unknown cache type "${type}"`, {
    hint: 'valid types: registry, local',
  });
}

/** `--secret id=ID[,src=PATH|,env=VAR]`; only where the value is, never the value itself. */
export function parseSecret(text: string, cwd: string, env: NodeJS.ProcessEnv): SecretSpec {
  const fields = new Map(parseCsvFields(text, '--secret'));
  for (const key of fields.keys()) {
    if (!['id', 'src', 'source', 'env', 'type'].includes(key)) {
      throw new InputError('FLAG_INVALID', `--secret: unknown field "${key}"`, {
        hint: 'use id=ID with src=PATH or env=VARIABLE',
      });
    }
  }
  const id = fields.get('id');
  if (!id) throw new InputError('FLAG_INVALID', `--secret needs id=, got "${text}"`);
  const type = fields.get('type');
  if (type !== undefined && type !== 'file' && type !== 'env') {
    throw new InputError('FLAG_INVALID', `--secret: type must be file or env, got "${type}"`);
  }
  const src = fields.get('src') ?? fields.get('source');
  const variable = fields.get('env');
  if (type === 'env' || (variable !== undefined && src === undefined)) {
    return { id, source: { kind: 'env', name: variable ?? src ?? id } };
  }
  if (src !== undefined || type === 'file') {
    return { id, source: { kind: 'file', path: path.resolve(cwd, src ?? id) } };
  }
  // Docker's rule: with neither src nor env, an environment variable named like the id wins,
  // else a file named like the id.
  if (env[id] !== undefined) return { id, source: { kind: 'env', name: id } };
  return { id, source: { kind: 'file', path: path.resolve(cwd, id) } };
}

/**
 * A secret's file is checked before the build, as buildx does: a step that mounts it may run
 * late, or not at all when cached, and a typo in the path should not wait for it.
 */
function checkSecretFiles(secrets: SecretSpec[]): SecretSpec[] {
  for (const { id, source } of secrets) {
    const problem = source.kind === 'file' ? fileProblem(source.path) : undefined;
    if (problem !== undefined) {
      throw new InputError('SECRET_INVALID', `--secret id=${id}: ${problem}`);
    }
  }
  return secrets;
}

function fileProblem(file: string): string | undefined {
  try {
    if (fs.statSync(file).isDirectory()) return `${file} is a directory, not a file`;
    fs.accessSync(file, fs.constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `file not found: ${file}` : `cannot read ${file} (${code})`;
  }
}

/**
 * `--ssh default|ID[=SOCKET]`: an agent socket, SSH_AUTH_SOCK when none is named. Key files
 * (which buildx loads into an agent of its own) are refused: kiln forwards agents only.
 */
export function parseSsh(text: string, cwd: string, env: NodeJS.ProcessEnv): SshSpec {
  const eq = text.indexOf('=');
  const id = eq < 0 ? text : text.slice(0, eq);
  if (id === '' || id.includes(',')) {
    throw new InputError('FLAG_INVALID', `--ssh: expected ID[=SOCKET], got "${text}"`);
  }
  const given = eq < 0 ? env.SSH_AUTH_SOCK : text.slice(eq + 1);
  if (given === undefined || given === '') {
    throw new InputError('SSH_NO_AGENT', `--ssh ${id}: SSH_AUTH_SOCK is not set`, {
      hint: `start an agent (eval "$(ssh-agent)"; ssh-add) or pass --ssh ${id}=SOCKET`,
    });
  }
  if (given.includes(',')) {
    throw new InputError('FLAG_INVALID', `--ssh ${id}: only one agent socket per id`);
  }
  const socket = path.resolve(cwd, given);
  let isSocket: boolean;
  try {
    isSocket = fs.statSync(socket).isSocket();
  } catch {
    throw new InputError('SSH_NO_AGENT', `--ssh ${id}: ${socket} does not exist`);
  }
  if (!isSocket) {
    throw new InputError('SSH_KEY_UNSUPPORTED', `--ssh ${id}: ${socket} is not an agent socket`, {
      hint: `load the key into ssh-agent (ssh-add ${given}) and pass --ssh ${id}=$SSH_AUTH_SOCK`,
    });
  }
  return { id, socket };
}

function uniqueIds<T extends { id: string }>(specs: T[], flag: string): T[] {
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.id)) throw new InputError('FLAG_INVALID', `${flag}: id ${s.id} given twice`);
    seen.add(s.id);
  }
  return specs;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError('FLAG_INVALID', `${flag}: unknown value "${value}"`, {
    hint: `valid values: ${allowed.join(', ')}`,
  });
}

/** `--label K=V`; a label without `=V` has an empty value, as the docker CLI reads it. */
function parseLabels(values: string[]): Map<string, string> {
  const labels = new Map<string, string>();
  for (const item of values) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === '') throw new InputError('FLAG_INVALID', `--label: empty name in "${item}"`);
    labels.set(key, eq < 0 ? '' : item.slice(eq + 1));
  }
  return labels;
}

/**
 * How errors name the Dockerfile: as the user gave it (`-f` as typed, else `CONTEXT/Dockerfile`
 * with the context as typed), so the name works from where the user stands; `<stdin>` for
 * `-f -`; inside a context read from stdin, the name within it.
 */
function dockerfileDisplayName(context: string, file: string | undefined): string {
  if (file === '-') return '<stdin>';
  if (file !== undefined) return file;
  return context === '-' ? 'Dockerfile' : path.join(context, 'Dockerfile');
}

/** Validates the flags of `kiln build CONTEXT` and resolves paths against `cwd`. */
export function toBuildRequest(
  context: string,
  flags: BuildFlags,
  cwd: string,
  env: NodeJS.ProcessEnv,
): BuildRequest {
  const contextFromStdin = context === '-';
  if (contextFromStdin && flags.file === '-') {
    throw new InputError(
      'FLAG_INVALID',
      'the context and the Dockerfile cannot both come from stdin',
    );
  }
  // A context on stdin is extracted by the building process; the path is filled in there.
  const contextDir = contextFromStdin ? '' : path.resolve(cwd, context);
  const file = flags.file ?? path.join(contextDir, 'Dockerfile');
  const stdinDockerfile = file === '-';
  // With the context on stdin, -f names a file inside it, as in `docker build -f F -`.
  const dockerfilePath = contextFromStdin
    ? (flags.file ?? 'Dockerfile')
    : stdinDockerfile
      ? path.join(contextDir, 'Dockerfile')
      : path.resolve(cwd, file);

  const outputs = flags.output.map((o) => parseOutputSpec(o, flags.tag, cwd));
  if (outputs.filter((o) => 'dest' in o && o.dest === '-').length > 1) {
    throw new InputError('OUTPUT_INVALID', 'only one output can go to stdout');
  }
  if (flags.push) {
    if (flags.tag.length === 0)
      throw new InputError('FLAG_INVALID', '--push needs at least one -t');
    refusePushByDigest(flags.tag, '-t with --push');
    outputs.push({ type: 'image', names: [...flags.tag], push: true });
  }

  return {
    contextDir,
    contextFromStdin,
    dockerfilePath,
    dockerfileFromStdin: stdinDockerfile,
    dockerfileDisplayName: dockerfileDisplayName(context, flags.file),
    ...(flags.target === undefined ? {} : { target: flags.target }),
    buildArgs: parseKeyValues(flags.buildArg, '--build-arg', env),
    labels: parseLabels(flags.label),
    ...(flags.platform === undefined ? {} : { platform: flags.platform }),
    tags: [...flags.tag],
    outputs,
    cacheDir: flags.cacheDir ? path.resolve(cwd, flags.cacheDir) : defaultCacheDir(env),
    noCache: flags.cache === false,
    cacheFrom: flags.cacheFrom.map((c) => parseCacheSpec(c, '--cache-from', cwd)),
    cacheTo: flags.cacheTo.map((c) => parseCacheSpec(c, '--cache-to', cwd)),
    secrets: checkSecretFiles(
      uniqueIds(
        flags.secret.map((s) => parseSecret(s, cwd, env)),
        '--secret',
      ),
    ),
    ssh: uniqueIds(
      (flags.ssh ?? []).map((s) => parseSsh(s, cwd, env)),
      '--ssh',
    ),
    network: oneOf<NetworkMode>(flags.network, ['default', 'none', 'host'], '--network'),
    isolation: oneOf<Isolation>(
      flags.isolation,
      ['auto', 'userns', 'chroot', 'none'],
      '--isolation',
    ),
    insecureRegistries: [...flags.insecureRegistry],
    registryMirrors: [...flags.registryMirror],
    rewriteTimestamp: false,
    concurrency: 4,
  };
}
