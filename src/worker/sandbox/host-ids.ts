import { readFileSync } from 'node:fs';

/**
 * Whether uid 0 of this process's user namespace is the host's root. Only then may an output on
 * the host (type=local) carry the image's owners; for a rootless user they would turn into
 * subordinate ids the user cannot remove.
 */
export function rootIsHostRoot(): boolean {
  try {
    const first = readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n')[0] ?? '';
    const [inside, outside] = first.trim().split(/\s+/);
    return inside === '0' && outside === '0';
  } catch {
    return process.getuid?.() === 0;
  }
}
