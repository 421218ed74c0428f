/**
 * An ssh-agent of the runner's own on a unix socket in the work directory, holding one fresh
 * ed25519 key, for `RUN --mount=type=ssh` cases (both builders get `--ssh default=SOCKET`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { run, stopChild } from './process.mjs';

export async function startSshAgent(work) {
  const dir = join(work, 'ssh');
  await fsp.mkdir(dir, { mode: 0o700 });
  const socket = join(dir, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !existsSync(socket); i++) {
    if (agent.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!existsSync(socket)) {
    await stopChild(agent, 1000);
    throw new Error(`ssh-agent did not create ${socket}`);
  }
  const key = join(dir, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kiln-conformance', '-f', key]);
  await run('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
  return { socket, stop: () => stopChild(agent, 2000) };
}
