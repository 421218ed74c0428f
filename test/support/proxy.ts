/**
 * A real HTTP proxy for tests: Debian's tinyproxy on 127.0.0.1, started (as root) in a mount
 * namespace of its own where /etc/hosts also maps `names` to 127.0.0.1. Only the proxy can
 * resolve those names, so a request for one succeeds only if it really went through the proxy,
 * while every byte stays on loopback. (Loopback addresses and `localhost` are never proxied,
 * so a target the proxy reaches must have such a name.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TINYPROXY = '/usr/bin/tinyproxy';

export interface TestProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** tinyproxy's log so far (one line per request at LogLevel Info). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export async function startProxy(names: string[]): Promise<TestProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-proxy-'));
  const port = await freePort();
  const hosts = join(dir, 'hosts');
  const logFile = join(dir, 'tinyproxy.log');
  await writeFile(hosts, `127.0.0.1\tlocalhost\n127.0.0.1\t${names.join(' ')}\n`);
  // No ConnectPort line: CONNECT is allowed to every port (the test servers' are random).
  await writeFile(
    join(dir, 'tinyproxy.conf'),
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      'Allow 127.0.0.1',
      `LogFile "${logFile}"`,
      'LogLevel Info',
      'MaxClients 20',
      '',
    ].join('\n'),
  );
  await writeFile(logFile, '');
  const script = `mount --bind '${hosts}' /etc/hosts && exec ${TINYPROXY} -d -c '${join(dir, 'tinyproxy.conf')}'`;
  const child: ChildProcess = spawn(
    '/usr/bin/unshare',
    ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForPort(port, child, () => stderr);
  return {
    url,
    log: () => readFile(logFile, 'utf8'),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('close', resolve));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string) {
  const { connect } = await import('node:net');
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`tinyproxy did not start: ${stderr()}`);
}
