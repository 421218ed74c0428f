/**
 * Times a command as a whole process and samples the resident memory of a process tree from
 * /proc. getrusage (and so `/usr/bin/time -v`) reports the largest single descendant, not the sum
 * over a tree that runs a sandbox helper, a shell and npm at once, hence the sampling.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Measurement {
  wallMs: number;
  /**
   * User + system CPU time of the command's tree, in ms: what the bench process's reaped
   * children used while it ran (a daemon's work, as BuildKit's, is not in it).
   */
  cpuMs: number;
  /** Peak of the summed RSS of the sampled trees, in KiB. */
  peakRssKb: number;
  /**
   * Peak of the summed RSS of the tree's processes whose command line holds `ownMarker` (kiln's
   * own processes, without the RUN steps they start), in KiB; 0 without a marker.
   */
  peakOwnRssKb: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Other trees to count (a daemon doing the work); the command's own tree is always counted. */
  extraRoots?: () => number[];
  /** Also sample the processes whose command line contains this (see peakOwnRssKb). */
  ownMarker?: string;
  sampleMs?: number;
  timeoutMs?: number;
}

const PAGE_KB = 4;
const CLOCK_TICK_MS = 10;

/**
 * cutime + cstime of this process (fields 16 and 17 of /proc/self/stat), in ms: the CPU time of
 * every child it has waited for, and of their waited-for descendants. The bench runs one command
 * at a time, so the difference across a command is that command's tree.
 */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  return (Number(fields[13]) + Number(fields[14])) * CLOCK_TICK_MS;
}

/** pid -> parent pid for every process visible in /proc. */
function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may hold spaces and parentheses; fields resume after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // The process exited between readdir and read.
    }
  }
  return children;
}

function rssKb(pid: number): number {
  try {
    const resident = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return resident * PAGE_KB;
  } catch {
    return 0;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Summed RSS (KiB) of the trees under roots, each process counted once, and of those of them
 * whose command line contains `marker`.
 */
export function treeRssKb(roots: number[], marker?: string): { total: number; own: number } {
  const children = parentMap();
  const seen = new Set<number>();
  const stack = [...roots];
  let total = 0;
  let own = 0;
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const rss = rssKb(pid);
    total += rss;
    if (marker !== undefined && cmdline(pid).includes(marker)) own += rss;
    stack.push(...(children.get(pid) ?? []));
  }
  return { total, own };
}

/** Runs cmd to completion, timing it and sampling memory; never throws on a non-zero exit. */
export function measure(
  cmd: string,
  args: string[],
  opts: MeasureOptions = {},
): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const cpuBefore = childrenCpuMs();
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));

    let peak = 0;
    let peakOwn = 0;
    const sample = () => {
      const roots = [...(child.pid ? [child.pid] : []), ...(opts.extraRoots?.() ?? [])];
      const rss = treeRssKb(roots, opts.ownMarker);
      peak = Math.max(peak, rss.total);
      peakOwn = Math.max(peakOwn, rss.own);
    };
    const timer = setInterval(sample, opts.sampleMs ?? 100);
    const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 1_800_000);
    sample();

    child.on('error', (e) => {
      clearInterval(timer);
      clearTimeout(killer);
      reject(e);
    });
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      clearInterval(timer);
      clearTimeout(killer);
      resolve({
        wallMs,
        cpuMs: childrenCpuMs() - cpuBefore,
        peakRssKb: peak,
        peakOwnRssKb: peakOwn,
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Runs a command for its effect (setup, cleanup), throwing with its output when it fails. */
export async function run(cmd: string, args: string[], opts: MeasureOptions = {}): Promise<string> {
  const m = await measure(cmd, args, { ...opts, sampleMs: 1000 });
  if (m.code !== 0) {
    const tail = (m.stderr || m.stdout).trim().split('\n').slice(-30).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited with ${m.code}:\n${tail}`);
  }
  return m.stdout;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
