/**
 * Debian's dockerd 20.10 (BuildKit 0.8 built in) on a private socket, data root and exec root,
 * with no iptables or bridge, trusting the loopback registry over plain HTTP.
 */
import { spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { run, stopChild } from './process.mjs';

// The first `docker` on PATH may be a newer CLI without the classic BuildKit client.
const DOCKER = '/usr/bin/docker';

export async function startDockerd(work, registryHost) {
  const dir = join(work, 'dockerd');
  await fsp.mkdir(join(dir, 'client'), { recursive: true });
  const host = `unix://${join(dir, 'docker.sock')}`;
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '1' };
  env.DOCKER_CONFIG = join(dir, 'client');
  const args = ['--iptables=false', '--ip6tables=false', '--bridge=none', '-H', host];
  args.push('--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'));
  args.push('--pidfile', join(dir, 'dockerd.pid'), '--insecure-registry', registryHost);
  const log = await fsp.open(join(dir, 'dockerd.log'), 'a');
  const daemon = spawn('/usr/sbin/dockerd', args, { stdio: ['ignore', log.fd, log.fd] });
  const docker = (a, extraEnv = {}) => run(DOCKER, a, { env: { ...env, ...extraEnv } });
  for (let i = 0; i < 100; i++) {
    if (daemon.exitCode !== null) break;
    try {
      await docker(['version']);
      return { docker, env, daemon, log };
    } catch {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  daemon.kill('SIGKILL');
  const tail = (await fsp.readFile(join(dir, 'dockerd.log'), 'utf8')).split('\n').slice(-15);
  throw new Error(`dockerd did not come up on ${host}:\n${tail.join('\n')}`);
}

export async function stopDockerd(d) {
  await stopChild(d.daemon);
  await d.log.close();
}
