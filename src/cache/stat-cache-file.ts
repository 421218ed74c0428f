import { createHash } from 'node:crypto';

/** The stat fields a remembered digest is tied to, in record order. */
export const STAT_FIELDS = ['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs', 'mode'] as const;
export const FIELDS = STAT_FIELDS.length;
export const DIGEST_BYTES = 32;

/** What a stat cache file holds: one record per path, in parallel arrays. */
export interface StatRecords {
  context: string;
  paths: string[];
  /** FIELDS values per record, as Node's bigint stats give them (signed 64-bit). */
  stats: BigInt64Array;
  /** The raw sha256 of each record's content, DIGEST_BYTES per record. */
  digests: Buffer;
}

/*
 * Layout (version 2; version 1 was one JSON object per context). The numbers in the stats section
 * are in the writer's byte order, so they load as a typed array view without decoding 300,000
 * values; the byte-order mark makes a file moved to a host of the other order read as foreign.
 *
 *   0  8  magic "kilnstat"
 *   8  4  byte-order mark 0x01020304 (native)
 *  12  4  version (little-endian, as are the counts)
 *  16  4  record count n
 *  20  4  context path length in bytes
 *  24  4  paths length in bytes
 *  28  4  zero (keeps the stats section 8-byte aligned)
 *  32     n * FIELDS * 8 stats, then n * 32 digests, then the context path (UTF-8), then the
 *         paths (UTF-8, separated by NUL, which no path contains)
 * end-32  sha256 of everything before it: a torn or bit-flipped file is not trusted
 */
const MAGIC = Buffer.from('kilnstat', 'latin1');
const BYTE_ORDER_MARK = 0x01020304;
const VERSION = 2;
const HEADER = 32;

/** The bytes of a stat cache file. */
export function encodeStatRecords(records: StatRecords): Buffer {
  const n = records.paths.length;
  const context = Buffer.from(records.context, 'utf8');
  const paths = Buffer.from(records.paths.join('\0'), 'utf8');
  const statBytes = n * FIELDS * 8;
  const size = HEADER + statBytes + n * DIGEST_BYTES + context.length + paths.length;
  const out = Buffer.alloc(size + DIGEST_BYTES);

  MAGIC.copy(out, 0);
  new Uint32Array(out.buffer, out.byteOffset + 8, 1)[0] = BYTE_ORDER_MARK;
  out.writeUInt32LE(VERSION, 12);
  out.writeUInt32LE(n, 16);
  out.writeUInt32LE(context.length, 20);
  out.writeUInt32LE(paths.length, 24);
  let at = HEADER;
  const stats = new Uint8Array(records.stats.buffer, records.stats.byteOffset, statBytes);
  out.set(stats, at);
  at += statBytes;
  records.digests.copy(out, at, 0, n * DIGEST_BYTES);
  at += n * DIGEST_BYTES;
  at += context.copy(out, at);
  at += paths.copy(out, at);

  createHash('sha256').update(out.subarray(0, at)).digest().copy(out, at);
  return out;
}

/**
 * The records of a stat cache file, or undefined for anything that is not a whole, intact file
 * of this version written on a host of this byte order (an older format, a torn write, a flipped
 * bit): the caller then starts empty and reads every file.
 */
export function decodeStatRecords(data: Buffer): StatRecords | undefined {
  if (data.length < HEADER + DIGEST_BYTES || !data.subarray(0, 8).equals(MAGIC)) return undefined;
  if (data.readUInt32LE(12) !== VERSION) return undefined;
  const mark = Buffer.alloc(4);
  new Uint32Array(mark.buffer, mark.byteOffset, 1)[0] = BYTE_ORDER_MARK;
  if (!data.subarray(8, 12).equals(mark)) return undefined;
  const n = data.readUInt32LE(16);
  const contextBytes = data.readUInt32LE(20);
  const pathBytes = data.readUInt32LE(24);
  const statBytes = n * FIELDS * 8;
  const end = HEADER + statBytes + n * DIGEST_BYTES + contextBytes + pathBytes;
  if (data.length !== end + DIGEST_BYTES) return undefined;
  const sum = createHash('sha256').update(data.subarray(0, end)).digest();
  if (!sum.equals(data.subarray(end))) return undefined;

  let at = HEADER;
  const stats = int64View(data, at, n * FIELDS);
  at += statBytes;
  const digests = data.subarray(at, at + n * DIGEST_BYTES);
  at += n * DIGEST_BYTES;
  const context = data.toString('utf8', at, at + contextBytes);
  at += contextBytes;
  const paths = n === 0 ? [] : data.toString('utf8', at, at + pathBytes).split('\0');
  if (paths.length !== n) return undefined;
  return { context, paths, stats, digests };
}

/** A BigInt64Array over `count` values at `offset`: a view when aligned, else a copy. */
function int64View(data: Buffer, offset: number, count: number): BigInt64Array {
  const start = data.byteOffset + offset;
  if (start % 8 === 0) return new BigInt64Array(data.buffer, start, count);
  const copy = new BigInt64Array(count);
  new Uint8Array(copy.buffer).set(data.subarray(offset, offset + count * 8));
  return copy;
}
