/**
 * PAX extended header records (POSIX.1-2001): "<length> <key>=<value>\n", where the length counts
 * the whole record in bytes, itself included. Values are raw bytes: SCHILY.xattr.* values are
 * binary (security.capability), so they are never decoded as text here.
 */
import { TarError } from '../errors.js';

export type PaxRecords = Map<string, Buffer>;

const NEWLINE = Buffer.from('\n');

/** Encodes records in the given order (callers sort keys for deterministic output). */
export function encodePaxRecords(records: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const keyBytes = Buffer.from(key, 'utf8');
    // ' ' + key + '=' + value + '\n'
    const rest = 1 + keyBytes.length + 1 + value.length + 1;
    let length = rest + 1;
    while (rest + String(length).length !== length) length = rest + String(length).length;
    parts.push(Buffer.from(`${length} ${key}=`, 'utf8'), value, NEWLINE);
  }
  return Buffer.concat(parts);
}

/** Decodes a PAX data block into records; later records with the same key win. */
export function decodePaxRecords(data: Buffer): PaxRecords {
  const records: PaxRecords = new Map();
  let offset = 0;
  while (offset < data.length) {
    // GNU tar and others may pad the block with NULs after the last record.
    if (data[offset] === 0) break;
    const space = data.indexOf(0x20, offset);
    if (space < 0 || space - offset > 20) throw corrupt('record length is missing');
    const lengthText = data.toString('latin1', offset, space);
    if (!/^[0-9]+$/.test(lengthText)) throw corrupt(`bad record length '${lengthText}'`);
    const length = Number(lengthText);
    const end = offset + length;
    if (length <= lengthText.length + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw corrupt('record overruns its data or lacks a newline');
    }
    const equals = data.indexOf(0x3d, space + 1);
    if (equals < 0 || equals >= end - 1) throw corrupt("record has no '='");
    const key = data.toString('utf8', space + 1, equals);
    records.set(key, Buffer.from(data.subarray(equals + 1, end - 1)));
    offset = end;
  }
  return records;
}

function corrupt(detail: string): TarError {
  return new TarError('TAR_CORRUPT', `invalid PAX extended header: ${detail}`);
}

/** Formats nanoseconds since the epoch as a PAX time ("1700000000.5"), trailing zeros trimmed. */
export function formatPaxTime(ns: bigint): string {
  const negative = ns < 0n;
  const abs = negative ? -ns : ns;
  const seconds = abs / 1_000_000_000n;
  const fraction = abs % 1_000_000_000n;
  let text = seconds.toString();
  if (fraction !== 0n) text += '.' + fraction.toString().padStart(9, '0').replace(/0+$/, '');
  return negative ? '-' + text : text;
}

/** Parses a PAX time into nanoseconds; digits past nanoseconds are dropped. */
export function parsePaxTime(text: string): bigint {
  const match = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(text);
  if (match === null) throw corrupt(`bad time '${text}'`);
  const fraction = (match[3] ?? '').slice(0, 9).padEnd(9, '0');
  const ns = BigInt(match[2]!) * 1_000_000_000n + BigInt(fraction);
  return match[1] === '-' ? -ns : ns;
}
