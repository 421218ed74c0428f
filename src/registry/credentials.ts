/**
 * Registry credentials as Docker and podman store them. Docker's config.json
 * (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) is read first: a `credHelpers` entry
 * for the registry, then an `auths` entry with credentials, then `credsStore`. Podman's auth.json
 * (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`)
 * comes next. Entries are matched by host only; podman's per-namespace keys (`quay.io/team`) are
 * matched by their host part.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError, RegistryError } from '../errors.js';
import { DOCKER_HUB, DOCKER_HUB_LEGACY_KEY } from './reference.js';

export type Credential =
  | { kind: 'basic'; username: string; password: string }
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token realm. */
  | { kind: 'identity-token'; username: string; token: string }
  /** A bearer token to send as is (`registrytoken`). */
  | { kind: 'registry-token'; token: string };

export interface CredentialProvider {
  get(registry: string): Promise<Credential | undefined>;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface DockerConfig {
  auths: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers: Record<string, string>;
}

/** Runs `docker-credential-NAME get` with the server URL on stdin; resolves its stdout. */
export type HelperRunner = (helper: string, serverUrl: string) => Promise<string | undefined>;

export interface CredentialOptions {
  env?: NodeJS.ProcessEnv;
  /** Overrides how credential helpers run (tests). */
  runHelper?: HelperRunner;
}

/** Parses config.json or auth.json text. Throws InputError naming the file when it is not JSON. */
export function parseDockerConfig(text: string, file: string): DockerConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputError('CREDENTIALS_INVALID', `${file} is not valid JSON`, { cause: err });
  }
  const obj = (raw ?? {}) as Record<string, unknown>;
  const auths = typeof obj.auths === 'object' && obj.auths !== null ? obj.auths : {};
  const helpers = typeof obj.credHelpers === 'object' && obj.credHelpers !== null;
  const config: DockerConfig = {
    auths: auths as Record<string, AuthEntry>,
    credHelpers: (helpers ? obj.credHelpers : {}) as Record<string, string>,
  };
  if (typeof obj.credsStore === 'string' && obj.credsStore !== '') {
    config.credsStore = obj.credsStore;
  }
  return config;
}

/** `https://index.docker.io/v1/` -> `index.docker.io`; `quay.io/team` -> `quay.io`. */
export function keyHost(key: string): string {
  const host = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '';
  return host.toLowerCase();
}

function hostsFor(registry: string): string[] {
  const host = registry.toLowerCase();
  if (host === DOCKER_HUB) return ['index.docker.io', 'docker.io', 'registry-1.docker.io'];
  return [host];
}

/** The key Docker's CLI and credential helpers use for a registry. */
export function serverUrlFor(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_LEGACY_KEY : registry;
}

function lookup<T>(map: Record<string, T>, registry: string): T | undefined {
  const wanted = hostsFor(registry);
  for (const [key, value] of Object.entries(map)) {
    if (wanted.includes(keyHost(key))) return value;
  }
  return undefined;
}

/** Turns one `auths` entry into a credential; undefined when it holds none (a credsStore stub). */
export function entryCredential(entry: AuthEntry, file: string): Credential | undefined {
  if (entry.registrytoken) return { kind: 'registry-token', token: entry.registrytoken };
  let username = entry.username ?? '';
  let password = entry.password ?? '';
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new InputError('CREDENTIALS_INVALID', `${file}: an "auth" value is not user:password`);
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (entry.identitytoken) return { kind: 'identity-token', username, token: entry.identitytoken };
  if (username === '' && password === '') return undefined;
  return { kind: 'basic', username, password };
}

/** Parses a credential helper's `get` output. `<token>` as user means an identity token. */
export function helperCredential(stdout: string, helper: string): Credential | undefined {
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout);
  } catch (err) {
    throw new RegistryError(
      'REGISTRY_CREDENTIAL_HELPER',
      `docker-credential-${helper} printed something that is not JSON`,
      helper,
      undefined,
      err,
    );
  }
  const username = parsed.Username ?? '';
  const secret = parsed.Secret ?? '';
  if (secret === '') return undefined;
  if (username === '<token>') return { kind: 'identity-token', username: '', token: secret };
  return { kind: 'basic', username, password: secret };
}

/** Runs a credential helper; "not found" answers resolve undefined. Output is never logged. */
export const runCredentialHelper: HelperRunner = (helper, serverUrl) =>
  new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, ['get'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.resume();
    child.once('error', (err: NodeJS.ErrnoException) => {
      const what = err.code === 'ENOENT' ? 'is not installed' : `could not run (${err.code})`;
      reject(
        new RegistryError(
          'REGISTRY_CREDENTIAL_HELPER',
          `credential helper docker-credential-${helper} ${what}`,
          serverUrl,
        ),
      );
    });
    child.once('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      if (code === 0) resolve(text);
      else if (/credentials not found/i.test(text)) resolve(undefined);
      else {
        reject(
          new RegistryError(
            'REGISTRY_CREDENTIAL_HELPER',
            `credential helper docker-credential-${helper} failed with exit code ${code}`,
            serverUrl,
          ),
        );
      }
    });
    child.stdin.end(`${serverUrl}\n`);
  });

/** The files searched, in order: Docker's config.json, then podman's auth.json candidates. */
export function credentialFiles(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME || os.homedir();
  const dockerDir = env.DOCKER_CONFIG || path.join(home, '.docker');
  const files = [path.join(dockerDir, 'config.json')];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'containers/auth.json'));
  return files;
}

async function readConfig(file: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError('CREDENTIALS_UNREADABLE', `cannot read ${file}`, { cause: err });
  }
  return parseDockerConfig(text, file);
}

/** A provider over Docker's and podman's files. Files are read once, on first use. */
export class FileCredentialProvider implements CredentialProvider {
  private readonly env: NodeJS.ProcessEnv;
  private readonly runHelper: HelperRunner;
  private configs: Promise<{ file: string; config: DockerConfig }[]> | undefined;
  private readonly cache = new Map<string, Promise<Credential | undefined>>();

  constructor(options: CredentialOptions = {}) {
    this.env = options.env ?? process.env;
    this.runHelper = options.runHelper ?? runCredentialHelper;
  }

  get(registry: string): Promise<Credential | undefined> {
    let found = this.cache.get(registry);
    if (!found) {
      found = this.resolve(registry);
      this.cache.set(registry, found);
    }
    return found;
  }

  private loadConfigs(): Promise<{ file: string; config: DockerConfig }[]> {
    this.configs ??= (async () => {
      const result = [];
      for (const file of credentialFiles(this.env)) {
        const config = await readConfig(file);
        if (config) result.push({ file, config });
      }
      return result;
    })();
    return this.configs;
  }

  private async fromHelper(helper: string, registry: string): Promise<Credential | undefined> {
    const stdout = await this.runHelper(helper, serverUrlFor(registry));
    return stdout === undefined ? undefined : helperCredential(stdout, helper);
  }

  private async resolve(registry: string): Promise<Credential | undefined> {
    for (const { file, config } of await this.loadConfigs()) {
      const helper = lookup(config.credHelpers, registry);
      if (helper) return this.fromHelper(helper, registry);
      const entry = lookup(config.auths, registry);
      const credential = entry ? entryCredential(entry, file) : undefined;
      if (credential) return credential;
      if (config.credsStore) {
        const stored = await this.fromHelper(config.credsStore, registry);
        if (stored) return stored;
      }
    }
    return undefined;
  }
}

/** A provider that knows no credentials (anonymous access everywhere). */
export const anonymous: CredentialProvider = { get: async () => undefined };
