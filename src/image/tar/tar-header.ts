/**
 * The 512-byte tar header block: POSIX ustar fields, with GNU base-256 numbers and the old GNU
 * magic understood when reading. Offsets and widths are those of POSIX.1-1988 ustar.
 */
import { TarError } from '../errors.js';

export const BLOCK_SIZE = 512;

const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

export type HeaderFormat = 'ustar' | 'gnu' | 'v7';

/** A header block's fields; strings are raw bytes decoded as UTF-8 (tar has no declared charset). */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  prefix: string;
  format: HeaderFormat;
}

/** Largest value each octal field holds: one byte is kept for the terminating NUL. */
export const OCTAL_MAX = {
  mode: 8 ** 7 - 1,
  id: 8 ** 7 - 1,
  size: 8 ** 11 - 1,
  mtime: 8 ** 11 - 1,
  dev: 8 ** 7 - 1,
};

function writeString(block: Buffer, [offset, width]: readonly [number, number], value: Buffer) {
  value.copy(block, offset, 0, Math.min(width, value.length));
}

function writeOctal(block: Buffer, [offset, width]: readonly [number, number], value: number) {
  const digits = value.toString(8).padStart(width - 1, '0');
  if (digits.length > width - 1)
    throw new RangeError(`${value} does not fit a ${width}-byte field`);
  block.write(digits, offset, 'latin1');
  block[offset + width - 1] = 0;
}

/** GNU base-256: the first byte is 0x80, the rest a big-endian two's complement number. */
function writeBase256(block: Buffer, [offset, width]: readonly [number, number], value: number) {
  let v = BigInt(value);
  for (let i = offset + width - 1; i > offset; i--) {
    block[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[offset] = 0x80;
}

export interface HeaderFields {
  /** Header name bytes (already truncated/split by the caller as needed). */
  name: Buffer;
  prefix?: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname?: Buffer;
  uname?: Buffer;
  gname?: Buffer;
  devmajor?: number;
  devminor?: number;
  /** Leave the device fields NUL-filled, as Go's archive/tar does for PAX header blocks. */
  noDeviceNumbers?: boolean;
}

/** Encodes a ustar header. Numbers must fit their octal fields, except device numbers. */
export function encodeHeader(fields: HeaderFields): Buffer {
  // From Node's shared pool: a zeroed allocation of its own per header showed in profiles.
  const block = Buffer.allocUnsafe(BLOCK_SIZE).fill(0);
  writeString(block, F.name, fields.name);
  writeOctal(block, F.mode, fields.mode);
  writeOctal(block, F.uid, fields.uid);
  writeOctal(block, F.gid, fields.gid);
  writeOctal(block, F.size, fields.size);
  writeOctal(block, F.mtime, fields.mtime);
  block.write(fields.typeflag, F.typeflag[0], 'latin1');
  if (fields.linkname !== undefined) writeString(block, F.linkname, fields.linkname);
  block.write('ustar\x0000', F.magic[0], 'latin1');
  if (fields.uname !== undefined) writeString(block, F.uname, fields.uname);
  if (fields.gname !== undefined) writeString(block, F.gname, fields.gname);
  for (const key of fields.noDeviceNumbers ? [] : (['devmajor', 'devminor'] as const)) {
    const value = fields[key] ?? 0;
    if (value > OCTAL_MAX.dev) writeBase256(block, F[key], value);
    else writeOctal(block, F[key], value);
  }
  if (fields.prefix !== undefined) writeString(block, F.prefix, fields.prefix);

  block.fill(0x20, F.chksum[0], F.chksum[0] + F.chksum[1]);
  const sum = unsignedSum(block);
  block.write(sum.toString(8).padStart(6, '0'), F.chksum[0], 'latin1');
  block[F.chksum[0] + 6] = 0;
  block[F.chksum[0] + 7] = 0x20;
  return block;
}

function unsignedSum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += block[i]!;
  return sum;
}

/** Historic tars (Sun, old GNU) summed bytes as signed chars; readers accept either. */
function signedSum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += (block[i]! << 24) >> 24;
  return sum;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function readString(block: Buffer, [offset, width]: readonly [number, number]): string {
  const field = block.subarray(offset, offset + width);
  const nul = field.indexOf(0);
  return field.toString('utf8', 0, nul < 0 ? width : nul);
}

function readNumber(block: Buffer, field: readonly [number, number], what: string): number {
  const [offset, width] = field;
  const first = block[offset]!;
  if (first & 0x80) {
    // Base-256; 0xff marks a negative number (only meaningful for mtime).
    let v = BigInt(first & 0x7f) - (first === 0xff ? 0x80n : 0n);
    for (let i = offset + 1; i < offset + width; i++) v = (v << 8n) | BigInt(block[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new TarError('TAR_UNSUPPORTED', `header ${what} is out of range`);
    }
    return Number(v);
  }
  const text = block
    .toString('latin1', offset, offset + width)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new TarError('TAR_CORRUPT', `header ${what} field is not an octal number: '${text}'`);
  }
  return Number.parseInt(text, 8);
}

/** Decodes and checks a header block (the checksum must match). */
export function decodeHeader(block: Buffer): RawHeader {
  const stored = block.toString('latin1', F.chksum[0], F.chksum[0] + F.chksum[1]);
  const storedText = stored.replace(/[\0 ]+$/, '').trim();
  const copy = Buffer.from(block);
  copy.fill(0x20, F.chksum[0], F.chksum[0] + F.chksum[1]);
  const expected = Number.parseInt(storedText, 8);
  if (
    !/^[0-7]+$/.test(storedText) ||
    (expected !== unsignedSum(copy) && expected !== signedSum(copy))
  ) {
    throw new TarError('TAR_CHECKSUM', 'tar header checksum mismatch (the archive is corrupt)');
  }

  const magic = block.toString('latin1', F.magic[0], F.magic[0] + 8);
  let format: HeaderFormat = 'v7';
  if (magic === 'ustar\x0000' || magic.startsWith('ustar\0')) format = 'ustar';
  else if (magic === 'ustar  \0') format = 'gnu';

  return {
    name: readString(block, F.name),
    mode: readNumber(block, F.mode, 'mode'),
    uid: readNumber(block, F.uid, 'uid'),
    gid: readNumber(block, F.gid, 'gid'),
    size: readNumber(block, F.size, 'size'),
    mtime: readNumber(block, F.mtime, 'mtime'),
    typeflag: block.toString('latin1', F.typeflag[0], F.typeflag[0] + 1),
    linkname: readString(block, F.linkname),
    uname: format === 'v7' ? '' : readString(block, F.uname),
    gname: format === 'v7' ? '' : readString(block, F.gname),
    devmajor: format === 'v7' ? 0 : readNumber(block, F.devmajor, 'devmajor'),
    devminor: format === 'v7' ? 0 : readNumber(block, F.devminor, 'devminor'),
    // GNU tar keeps atime/ctime where ustar has the prefix, so only ustar has a prefix.
    prefix: format === 'ustar' ? readString(block, F.prefix) : '',
    format,
  };
}
