import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startAgentProxy } from './ssh-agent-proxy.js';

const haveAgent = existsSync('/usr/bin/ssh-agent') && existsSync('/usr/bin/ssh-add');
let dir: string;
let agent: ChildProcess | undefined;
let agentSocket: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-ssh-'));
  agentSocket = path.join(dir, 'agent.sock');
  if (!haveAgent) return;
  agent = spawn('/usr/bin/ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    if ((await stat(agentSocket).catch(() => undefined))?.isSocket()) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});
after(async () => {
  agent?.kill();
  await rm(dir, { recursive: true, force: true });
});

/** `ssh-add -l` exits 1 for an agent without keys and 2 when it cannot reach an agent. */
function sshAddList(socket: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/ssh-add', ['-l'], {
      env: { SSH_AUTH_SOCK: socket },
      stdio: 'ignore',
    });
    child.on('close', (code) => resolve(code));
  });
}

test('forwards the ssh-agent protocol through its own socket', { skip: !haveAgent }, async () => {
  const socketPath = path.join(dir, 'proxy.sock');
  const proxy = await startAgentProxy({ agentSocket, socketPath, mode: 0o600, uid: 0, gid: 0 });
  try {
    assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
    assert.equal(await sshAddList(socketPath), 1, 'the agent answered: no identities');
    assert.equal(await sshAddList(path.join(dir, 'nothing.sock')), 2, 'the control case fails');
  } finally {
    await proxy.close();
  }
  assert.equal(existsSync(socketPath), false, 'close removes the socket');
});

test('a key added through the proxy is listed by the agent itself', {
  skip: !haveAgent,
}, async () => {
  const key = path.join(dir, 'id_test');
  const gen = spawnSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  if (gen.status !== 0) return;
  const socketPath = path.join(dir, 'proxy2.sock');
  const proxy = await startAgentProxy({ agentSocket, socketPath, mode: 0o600, uid: 0, gid: 0 });
  try {
    // Not spawnSync: the proxy runs on this process's event loop.
    const added = await new Promise<number | null>((resolve) => {
      const child = spawn('/usr/bin/ssh-add', [key], {
        env: { SSH_AUTH_SOCK: socketPath },
        stdio: 'ignore',
      });
      child.on('close', (code) => resolve(code));
    });
    assert.equal(added, 0);
    assert.equal(await sshAddList(agentSocket), 0, 'the real agent now has the key');
  } finally {
    await proxy.close();
  }
});
