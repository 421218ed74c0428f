/**
 * /etc/subuid and /etc/subgid: the id ranges newuidmap/newgidmap let a user map into a user
 * namespace. util-linux's `--map-auto` takes the first range listed for the user.
 */

import { readFile } from 'node:fs/promises';

export interface SubidRange {
  start: number;
  count: number;
}

/** Ranges for a user, matched by name or by numeric uid, in file order. */
export function parseSubidFile(text: string, user: string, uid: number): SubidRange[] {
  const ranges: SubidRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [owner, start, count] = line.split(':');
    if (owner !== user && owner !== String(uid)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0)
      ranges.push({ start: s, count: c });
  }
  return ranges;
}

export async function readSubidRanges(
  file: '/etc/subuid' | '/etc/subgid' | string,
  user: string,
  uid: number,
): Promise<SubidRange[]> {
  try {
    return parseSubidFile(await readFile(file, 'utf8'), user, uid);
  } catch {
    return [];
  }
}
