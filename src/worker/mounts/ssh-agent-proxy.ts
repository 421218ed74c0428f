import { chmod, chown, rm } from 'node:fs/promises';
import net from 'node:net';

export interface AgentProxy {
  /** The listening socket, to bind-mount into the step. */
  socketPath: string;
  close(): Promise<void>;
}

export interface AgentProxyOptions {
  /** The agent to forward to (the user's SSH_AUTH_SOCK). */
  agentSocket: string;
  /** Where to listen; must not exist yet. */
  socketPath: string;
  mode: number;
  uid: number;
  gid: number;
}

/**
 * A socket that forwards each connection to an SSH agent, the way BuildKit proxies the client's
 * agent. The step never sees the agent's own socket: ssh-agent only answers its owner's uid,
 * and the step may run as another user (or as a mapped uid in a user namespace), so kiln, which
 * is the agent owner's process, makes the connection on the step's behalf.
 */
export async function startAgentProxy(opts: AgentProxyOptions): Promise<AgentProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const agent = net.connect(opts.agentSocket);
    sockets.add(client);
    sockets.add(agent);
    const drop = (): void => {
      client.destroy();
      agent.destroy();
      sockets.delete(client);
      sockets.delete(agent);
    };
    client.on('error', drop);
    agent.on('error', drop);
    client.on('close', drop);
    agent.on('close', drop);
    client.pipe(agent);
    agent.pipe(client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chown(opts.socketPath, opts.uid, opts.gid);
  await chmod(opts.socketPath, opts.mode);

  return {
    socketPath: opts.socketPath,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(opts.socketPath, { force: true });
    },
  };
}
