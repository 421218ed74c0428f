/**
 * Shared pieces of the ADD tests: a build through the real CLI whose rootfs comes back as tar
 * entries, a file server and a git daemon on loopback.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import type { TarEntry } from '../src/image/tar/entry.js';
import { readTar } from '../src/image/tar/tar-reader.js';
import { runCommand } from './support/command.js';
import { jsonEvents, runKiln } from './support/kiln.js';

export interface Entry extends TarEntry {
  data: Buffer;
}

export interface BuildOutcome {
  code: number | null;
  stderr: string;
  /** The rootfs (type=tar output) by path; empty when the build failed. */
  files: Map<string, Entry>;
  /** Step names by their final status ('cached', 'done', 'error'). */
  statuses: Map<string, string>;
}

/** Builds `dockerfile` in `ctx` with the given cache dir and reads the exported rootfs. */
export async function buildRootfs(
  ctx: string,
  dockerfile: string,
  cacheDir: string,
  out: string,
): Promise<BuildOutcome> {
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  const res = await runKiln([
    'build',
    '--progress=json',
    '--cache-dir',
    cacheDir,
    '-o',
    `type=tar,dest=${out}`,
    ctx,
  ]);
  const statuses = new Map<string, string>();
  for (const event of jsonEvents(res.stderr)) {
    if (event.type === 'step') statuses.set(String(event.name), String(event.status));
  }
  const files = new Map<string, Entry>();
  if (res.code === 0) {
    for await (const { entry, content } of readTar(createReadStream(out))) {
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk);
      files.set(entry.path, { ...entry, data: Buffer.concat(chunks) });
    }
  }
  return { code: res.code, stderr: res.stderr, files, statuses };
}

export interface FileServer {
  origin: string;
  /** Requests seen per path. */
  hits: Map<string, number>;
  stop(): Promise<void>;
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** An HTTP server on 127.0.0.1 answering the given paths (404 otherwise). */
export async function startFileServer(routes: Record<string, Route>): Promise<FileServer> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    // A key ending in '*' answers every path that starts with the rest of it.
    const route =
      routes[path] ??
      Object.entries(routes).find(([k]) => k.endsWith('*') && path.startsWith(k.slice(0, -1)))?.[1];
    if (route === undefined) {
      res.writeHead(404).end('not found\n');
      return;
    }
    route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no server address');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    hits,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface GitDaemon {
  /** `git://127.0.0.1:PORT` */
  origin: string;
  stop(): Promise<void>;
}

/** `git daemon` serving every repository under `baseDir`, on loopback. */
export async function startGitDaemon(baseDir: string): Promise<GitDaemon> {
  const port = await freePort();
  const child = spawn(
    'git',
    [
      'daemon',
      '--export-all',
      '--reuseaddr',
      `--base-path=${baseDir}`,
      '--listen=127.0.0.1',
      `--port=${port}`,
      baseDir,
    ],
    { stdio: 'ignore' },
  );
  const origin = `git://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const probe = await runCommand('git', ['ls-remote', `${origin}/none.git`], { check: false });
    if (!probe.stderr.includes('Connection refused')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    origin,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'kiln test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'kiln test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
};

/** Runs git in `cwd` with a test identity; returns stdout. */
export async function gitIn(cwd: string, args: string[]): Promise<string> {
  return (await runCommand('git', args, { cwd, env: GIT_ENV })).stdout;
}

/** Writes files (path -> content) below `dir`. */
export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

/**
 * git's smart HTTP protocol on loopback: each request runs git-http-backend as a CGI program
 * over the repositories under `projectRoot`.
 */
export function gitHttpRoute(projectRoot: string): Route {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const child = spawn('/usr/lib/git-core/git-http-backend', [], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname.replace(/^\/git/, ''),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('close', () => {
      const out = Buffer.concat(chunks);
      const split = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, split).toString('latin1');
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers).end(out.subarray(split + 4));
    });
  };
}
