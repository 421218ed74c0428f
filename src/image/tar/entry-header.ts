/**
 * The header blocks of one tar entry: the POSIX ustar header, with a PAX extended header in
 * front whenever a value does not fit ustar (long or non-ASCII names, big sizes and ids,
 * sub-second or negative mtimes, xattrs). The same entry always gives the same bytes: PAX keys
 * are sorted, header-only fields are zero, and nothing depends on the clock or the host, as in
 * Go's archive/tar (and so Docker and BuildKit), whose bytes diff IDs hash.
 */
import { TarError } from '../errors.js';
import type { EntryType, TarEntry } from './entry.js';
import { encodePaxRecords, formatPaxTime } from './pax.js';
import { BLOCK_SIZE, encodeHeader, OCTAL_MAX } from './tar-header.js';

const TYPEFLAG: Record<EntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

function isAscii(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte >= 0x80 || byte === 0) return false;
  return true;
}

/** Splits a name into ustar prefix and name at a '/', as Go's archive/tar does; or undefined. */
function splitUstarPath(name: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  if (name.length <= 100) return undefined;
  if (name.length > 256) return undefined;
  let i = Math.min(name.length - 1, 155);
  while (i > 0 && name[i] !== 0x2f) i--;
  if (i <= 0) return undefined;
  const rest = name.subarray(i + 1);
  if (rest.length === 0 || rest.length > 100) return undefined;
  return { prefix: name.subarray(0, i), name: rest };
}

/** Go's archive/tar drops non-ASCII bytes from a ustar field whose real value is in PAX. */
function asciiOnly(bytes: Buffer, width: number): Buffer {
  if (isAscii(bytes)) return bytes.subarray(0, width);
  return Buffer.from(bytes.filter((b) => b > 0 && b < 0x80)).subarray(0, width);
}

function validateEntry(entry: TarEntry): void {
  const bad = (why: string) =>
    new TarError('TAR_INVALID_ENTRY', `cannot write tar entry '${entry.path}': ${why}`);
  if (entry.path === '' || entry.path.includes('\0')) throw bad('the path is empty or has a NUL');
  if (entry.linkname?.includes('\0')) throw bad('the link name has a NUL');
  if (!(entry.type in TYPEFLAG)) throw bad(`unknown type '${entry.type}'`);
  if ((entry.type === 'symlink' || entry.type === 'hardlink') && !entry.linkname) {
    throw bad('a link needs a linkname');
  }
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw bad('the size is invalid');
  if (entry.type !== 'file' && entry.size !== 0) throw bad('only regular files have content');
  for (const id of [entry.uid, entry.gid]) {
    if (!Number.isSafeInteger(id) || id < 0) throw bad('uid and gid must be integers >= 0');
  }
}

export interface TarWriteOptions {
  /**
   * Add the file type bits (S_IFREG, S_IFDIR, ...) to the header mode, as moby's archive package
   * does (Docker's classic builder, `docker save`). BuildKit and containerd write permission
   * bits only, which is the default here.
   */
  modeTypeBits?: boolean;
}

/** The S_IF* bits moby adds per type; a hardlink carries those of the regular file it names. */
const MODE_TYPE_BITS: Record<EntryType, number> = {
  file: 0o100000,
  hardlink: 0o100000,
  symlink: 0o120000,
  char: 0o20000,
  block: 0o60000,
  dir: 0o40000,
  fifo: 0o10000,
};

/** The header blocks (an optional PAX header, then the ustar header) for one entry. */
export function encodeEntryHeader(entry: TarEntry, options: TarWriteOptions = {}): Buffer {
  validateEntry(entry);
  const pax: Array<[string, Buffer]> = [];
  const headerName = entry.type === 'dir' ? entry.path.replace(/\/*$/, '/') : entry.path;
  const nameBytes = Buffer.from(headerName, 'utf8');

  const nameFits = isAscii(nameBytes) && nameBytes.length <= 100;
  const split = nameFits || !isAscii(nameBytes) ? undefined : splitUstarPath(nameBytes);

  let linkname: Buffer | undefined;
  if (entry.linkname !== undefined) {
    linkname = Buffer.from(entry.linkname, 'utf8');
    if (!isAscii(linkname) || linkname.length > 100) {
      pax.push(['linkpath', linkname]);
      linkname = asciiOnly(linkname, 100);
    }
  }

  const numeric = (key: string, value: number, max: number): number => {
    if (value <= max) return value;
    pax.push([key, Buffer.from(String(value))]);
    return 0;
  };
  const uid = numeric('uid', entry.uid, OCTAL_MAX.id);
  const gid = numeric('gid', entry.gid, OCTAL_MAX.id);
  const size = numeric('size', entry.size, OCTAL_MAX.size);

  const seconds = entry.mtimeNs / 1_000_000_000n;
  let mtime = Number(seconds);
  if (entry.mtimeNs % 1_000_000_000n !== 0n || entry.mtimeNs < 0n || mtime > OCTAL_MAX.mtime) {
    pax.push(['mtime', Buffer.from(formatPaxTime(entry.mtimeNs))]);
    mtime = Math.min(Math.max(mtime, 0), OCTAL_MAX.mtime);
  }

  const text = (key: string, value: string | undefined): Buffer | undefined => {
    if (value === undefined || value === '') return undefined;
    const bytes = Buffer.from(value, 'utf8');
    if (isAscii(bytes) && bytes.length <= 32) return bytes;
    pax.push([key, bytes]);
    return asciiOnly(bytes, 32);
  };
  const uname = text('uname', entry.uname);
  const gname = text('gname', entry.gname);

  for (const [key, value] of Object.entries(entry.xattrs ?? {})) {
    if (key === '' || key.includes('\0') || key.includes('=')) {
      throw new TarError('TAR_INVALID_ENTRY', `invalid xattr name '${key}' on '${entry.path}'`);
    }
    pax.push([`SCHILY.xattr.${key}`, Buffer.from(value)]);
  }

  // As Go's archive/tar: the ustar prefix is used only when nothing else needs PAX; once there
  // is a PAX header anyway, a long path goes into it too.
  let name: Buffer = nameBytes;
  let prefix: Buffer | undefined;
  if (!nameFits) {
    if (split !== undefined && pax.length === 0) ({ prefix, name } = split);
    else {
      pax.push(['path', nameBytes]);
      name = asciiOnly(nameBytes, 100);
    }
  }

  const device = entry.type === 'char' || entry.type === 'block';
  const header = encodeHeader({
    name,
    ...(prefix === undefined ? {} : { prefix }),
    mode: (entry.mode & 0o7777) | (options.modeTypeBits ? MODE_TYPE_BITS[entry.type] : 0),
    uid,
    gid,
    size,
    mtime,
    typeflag: TYPEFLAG[entry.type],
    ...(linkname === undefined ? {} : { linkname }),
    ...(uname === undefined ? {} : { uname }),
    ...(gname === undefined ? {} : { gname }),
    devmajor: device ? (entry.devmajor ?? 0) : 0,
    devminor: device ? (entry.devminor ?? 0) : 0,
  });
  if (pax.length === 0) return header;
  return Buffer.concat([...encodePaxHeader(headerName, pax), header]);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The PAX header block, its records and their padding, as parts to concatenate. */
function encodePaxHeader(realName: string, records: Array<[string, Buffer]>): Buffer[] {
  records.sort(([a], [b]) => compareBytes(a, b));
  const data = encodePaxRecords(records);
  // Go's archive/tar names the header path.Join(dir, "PaxHeaders.0", file); readers ignore it.
  const slash = realName.lastIndexOf('/');
  const joined = `${realName.slice(0, slash + 1)}PaxHeaders.0/${realName.slice(slash + 1)}`;
  const name = Buffer.from(
    asciiOnly(Buffer.from(joined.replace(/\/$/, '')), 100)
      .toString('latin1')
      .replace(/\/+$/, ''),
    'latin1',
  );
  const header = encodeHeader({
    name,
    noDeviceNumbers: true,
    mode: 0,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    typeflag: 'x',
  });
  return [header, data, padding(data.length)];
}

/** The zero bytes that round `size` up to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? Buffer.alloc(0) : ZERO_BLOCK.subarray(0, BLOCK_SIZE - rest);
}
