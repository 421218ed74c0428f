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

/** The size of the range kiln suggests: a whole 16-bit id space, as useradd gives. */
export const SUGGESTED_RANGE = 65536;

/**
 * The first id from which a new range overlaps no range of any user in the given files' texts:
 * 100000, or right after the last range, as useradd hands them out. Overlapping ranges would let
 * two users' containers own each other's files.
 */
export function freeSubidStart(texts: string[]): number {
  let end = 100_000;
  for (const text of texts) {
    for (const raw of text.split('\n')) {
      const [, start, count] = raw.trim().split(':');
      const s = Number(start);
      const c = Number(count);
      if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) end = Math.max(end, s + c);
    }
  }
  return end;
}
