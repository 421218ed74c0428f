/**
 * A real registry for integration tests: Debian's /usr/bin/docker-registry (CNCF distribution 2.8)
 * on a free loopback port, storage in a temporary directory, optionally behind htpasswd (Basic) or
 * token (Bearer) auth. Every test file may start its own; stop() kills it and removes the directory,
 * and a process exit hook kills any that a crashed test left behind.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  type GrantPolicy,
  startTokenServer,
  type TokenServer,
  type TokenUser,
} from './token-server.js';

const execFileAsync = promisify(execFile);

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface RegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  /** Users for htpasswd or the token server; defaults to one user `kiln` / `kiln-secret`. */
  users?: TokenUser[];
  /** Token mode only: which actions the token server grants (default: all for users, none else). */
  grant?: GrantPolicy;
  /** Serve HTTPS with this certificate and key (PEM paths) instead of plain HTTP. */
  tls?: { certPath: string; keyPath: string; clientCaPath?: string };
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, usable as the registry part of an image reference. */
  host: string;
  rootDir: string;
  users: TokenUser[];
  /** Set in token mode. */
  tokenServer?: TokenServer;
  stop(): Promise<void>;
}

export const DEFAULT_USERS: TokenUser[] = [{ user: 'kiln', password: 'kiln-secret' }];

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * distribution 2.8 accepts only bcrypt entries in htpasswd files. apache2-utils' htpasswd makes
 * them when installed; otherwise Debian's python3 crypt module (libxcrypt) does, offline.
 */
async function bcryptHash(password: string): Promise<string> {
  if (fs.existsSync('/usr/bin/htpasswd')) {
    const { stdout } = await execFileAsync('/usr/bin/htpasswd', ['-nbB', 'x', password]);
    return stdout.trim().slice(2);
  }
  const script =
    'import crypt,sys;print(crypt.crypt(sys.argv[1],crypt.mksalt(crypt.METHOD_BLOWFISH,rounds=16)))';
  const { stdout } = await execFileAsync('/usr/bin/python3', [
    '-W',
    'ignore',
    '-c',
    script,
    password,
  ]);
  const hash = stdout.trim();
  if (!hash.startsWith('$2')) throw new Error(`python3 crypt produced no bcrypt hash: ${hash}`);
  return hash;
}

async function writeHtpasswd(file: string, users: TokenUser[]): Promise<void> {
  const lines = await Promise.all(
    users.map(async (u) => `${u.user}:${await bcryptHash(u.password)}`),
  );
  await fsp.writeFile(file, `${lines.join('\n')}\n`);
}

function registryConfig(
  rootDir: string,
  port: number,
  auth: Record<string, unknown> | undefined,
  tls: RegistryOptions['tls'],
): string {
  const httpSection: Record<string, unknown> = {
    addr: `127.0.0.1:${port}`,
    secret: crypto.randomBytes(16).toString('hex'),
  };
  if (tls) {
    httpSection.tls = {
      certificate: tls.certPath,
      key: tls.keyPath,
      ...(tls.clientCaPath ? { clientcas: [tls.clientCaPath] } : {}),
    };
  }
  const config = {
    version: '0.1',
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: path.join(rootDir, 'data') },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: httpSection,
    ...(auth ? { auth } : {}),
  };
  // JSON is valid YAML, and this avoids a YAML writer.
  return JSON.stringify(config, null, 2);
}

/** Resolves once GET /v2/ answers with any HTTP status; rejects if the process exits first. */
function waitReady(child: ChildProcess, port: number, useTls: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 15_000;
    let done = false;
    const onExit = (code: number | null) => {
      done = true;
      reject(new Error(`docker-registry exited with ${code} before it was ready`));
    };
    child.once('exit', onExit);
    const probe = () => {
      if (done) return;
      const socket = useTls
        ? net.connect(port, '127.0.0.1') // a TCP accept is enough for a TLS listener
        : undefined;
      if (socket) {
        socket.once('connect', () => {
          socket.destroy();
          finish();
        });
        socket.once('error', retry);
        return;
      }
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 1000 }, (res) => {
        res.resume();
        finish();
      });
      req.once('error', retry);
      req.once('timeout', () => req.destroy());
    };
    const finish = () => {
      if (done) return;
      done = true;
      child.off('exit', onExit);
      resolve();
    };
    const retry = () => {
      if (done) return;
      if (Date.now() > deadline) {
        done = true;
        reject(new Error('docker-registry did not answer /v2/ within 15s'));
        return;
      }
      setTimeout(probe, 50);
    };
    probe();
  });
}

function registryEnv(): NodeJS.ProcessEnv {
  // distribution maps REGISTRY_* variables onto its config; a test's REGISTRY_AUTH_FILE (podman's
  // credential file) would otherwise become an unknown auth backend.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

async function authSection(
  rootDir: string,
  options: RegistryOptions,
  users: TokenUser[],
): Promise<{ auth?: Record<string, unknown>; tokenServer?: TokenServer }> {
  const mode = options.auth ?? 'none';
  if (mode === 'htpasswd') {
    const file = path.join(rootDir, 'htpasswd');
    await writeHtpasswd(file, users);
    return { auth: { htpasswd: { realm: 'kiln-test', path: file } } };
  }
  if (mode === 'token') {
    const tokenServer = await startTokenServer({
      dir: rootDir,
      service: 'kiln-test-registry',
      users,
      ...(options.grant ? { grant: options.grant } : {}),
    });
    const auth = {
      token: {
        realm: tokenServer.realm,
        service: tokenServer.service,
        issuer: tokenServer.issuer,
        rootcertbundle: tokenServer.key.certPath,
      },
    };
    return { auth, tokenServer };
  }
  return {};
}

/** Starts a registry and waits until it answers. Retries on a port taken between probe and bind. */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const rootDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kiln-registry-'));
  const users = options.users ?? DEFAULT_USERS;
  let tokenServer: TokenServer | undefined;
  try {
    const section = await authSection(rootDir, options, users);
    const auth = section.auth;
    tokenServer = section.tokenServer;
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const configPath = path.join(rootDir, 'config.yml');
      await fsp.writeFile(configPath, registryConfig(rootDir, port, auth, options.tls));
      const log = fs.openSync(path.join(rootDir, 'registry.log'), 'a');
      const child = spawn(REGISTRY_BINARY, ['serve', configPath], {
        env: registryEnv(),
        stdio: ['ignore', log, log],
      });
      fs.closeSync(log);
      live.add(child);
      child.once('exit', () => live.delete(child));
      try {
        await waitReady(child, port, options.tls !== undefined);
      } catch (err) {
        await stopChild(child);
        if (attempt < 5) continue;
        const text = await fsp.readFile(path.join(rootDir, 'registry.log'), 'utf8').catch(() => '');
        throw new Error(`${(err as Error).message}\n${text}`);
      }
      return {
        host: `127.0.0.1:${port}`,
        rootDir,
        users,
        ...(section.tokenServer ? { tokenServer: section.tokenServer } : {}),
        stop: async () => {
          await stopChild(child);
          await section.tokenServer?.stop();
          await fsp.rm(rootDir, { recursive: true, force: true });
        },
      };
    }
  } catch (err) {
    await tokenServer?.stop();
    await fsp.rm(rootDir, { recursive: true, force: true });
    throw err;
  }
}
