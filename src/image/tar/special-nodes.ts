/**
 * Creates device nodes and FIFOs. Node has no mknod(2) or mkfifo(3), so this runs coreutils'
 * `mknod` from one shell per batch instead of one process per node: a layer that deletes many
 * files becomes many whiteout devices in overlay form.
 */
import { spawn } from 'node:child_process';

export interface SpecialNode {
  path: string;
  kind: 'char' | 'block' | 'fifo';
  major: number;
  minor: number;
  /** Initial permission bits (the caller fixes modes after chown anyway). */
  mode: number;
}

const SCRIPT = [
  'while [ $# -gt 0 ]; do',
  '  if [ "$2" = p ]; then mknod -m "$5" "$1" p 2>/dev/null || printf "%s\\0" "$1"',
  '  else mknod -m "$5" "$1" "$2" "$3" "$4" 2>/dev/null || printf "%s\\0" "$1"; fi',
  '  shift 5',
  'done',
].join('\n');

/** Argument lists stay well under the kernel's limit (ARG_MAX, 2 MiB here). */
const BATCH_BYTES = 512 * 1024;

function runBatch(args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', SCRIPT, 'sh', ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`mknod helper exited with code ${code}`));
        return;
      }
      resolve(
        Buffer.concat(out)
          .toString('utf8')
          .split('\0')
          .filter((path) => path !== ''),
      );
    });
  });
}

/** Creates the nodes; returns the paths that could not be created (e.g. EPERM for devices). */
export async function makeSpecialNodes(nodes: SpecialNode[]): Promise<Set<string>> {
  const failed = new Set<string>();
  let args: string[] = [];
  let bytes = 0;
  const flush = async () => {
    if (args.length === 0) return;
    for (const path of await runBatch(args)) failed.add(path);
    args = [];
    bytes = 0;
  };
  for (const node of nodes) {
    const kind = node.kind === 'fifo' ? 'p' : node.kind === 'char' ? 'c' : 'b';
    const mode = (node.mode & 0o777).toString(8).padStart(4, '0');
    const nodeArgs = [node.path, kind, String(node.major), String(node.minor), mode];
    args.push(...nodeArgs);
    bytes += nodeArgs.reduce((sum, arg) => sum + Buffer.byteLength(arg) + 1, 0);
    if (bytes >= BATCH_BYTES) await flush();
  }
  await flush();
  return failed;
}
