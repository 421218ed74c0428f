import { readFileSync } from 'node:fs';

/**
 * The x86-64 microarchitecture levels (psABI) and the CPU flags, as /proc/cpuinfo names them,
 * that each adds to the one below. `linux/amd64/v2` binaries run on any CPU that has them.
 */
const LEVEL_FLAGS: [number, string[]][] = [
  [2, ['cx16', 'lahf_lm', 'popcnt', 'sse4_1', 'sse4_2', 'ssse3']],
  [3, ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave']],
  [4, ['avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl']],
];

/** The highest level the CPU flags reach (1 when unknown), as containerd detects it. */
export function amd64LevelOf(cpuinfo: string): number {
  const line = /^flags\s*:(.*)$/m.exec(cpuinfo);
  if (!line) return 1;
  const flags = new Set((line[1] ?? '').trim().split(/\s+/));
  let level = 1;
  for (const [next, needed] of LEVEL_FLAGS) {
    if (!needed.every((f) => flags.has(f))) break;
    level = next;
  }
  return level;
}

let cached: number | undefined;

/** This machine's x86-64 level, read once from /proc/cpuinfo. */
export function hostAmd64Level(): number {
  if (cached === undefined) {
    try {
      cached = amd64LevelOf(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      cached = 1;
    }
  }
  return cached;
}
