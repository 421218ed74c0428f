import type { Instruction } from '../dockerfile/instruction.js';
import { flagAt } from '../dockerfile/word-location.js';
import type { Command } from './commands.js';
import { base, commandLine, Failure, flags } from './instruction-support.js';
import { MountSpecError, parseMountSpec } from './mount-spec.js';

const NETWORKS = ['default', 'none', 'host'] as const;
const SECURITY = ['sandbox', 'insecure'] as const;

/** RUN: its --mount, --network and --security flags, and the command (shell, exec or heredoc). */
export function parseRun(ins: Instruction): Command {
  const f = flags(ins, { mount: 'strings', network: 'string', security: 'string' });
  const mounts = f.strings('mount').map((m, i) => {
    try {
      return parseMountSpec(m);
    } catch (err) {
      if (!(err instanceof MountSpecError)) throw err;
      const at = flagAt(ins.location, 'mount', i);
      throw new Failure(`invalid --mount=${m}: ${err.message}`, undefined, at);
    }
  });
  const network = f.string('network');
  if (network !== undefined && !(NETWORKS as readonly string[]).includes(network)) {
    throw new Failure(
      `unsupported network mode "${network}"`,
      'valid modes: default, none, host',
      flagAt(ins.location, 'network'),
    );
  }
  const security = f.string('security');
  if (security !== undefined && !(SECURITY as readonly string[]).includes(security)) {
    throw new Failure(
      `unsupported security mode "${security}"`,
      'valid modes: sandbox, insecure',
      flagAt(ins.location, 'security'),
    );
  }
  return {
    kind: 'run',
    command: commandLine(ins),
    mounts,
    network: network as (typeof NETWORKS)[number] | undefined,
    security: security as (typeof SECURITY)[number] | undefined,
    ...base(ins),
  };
}
