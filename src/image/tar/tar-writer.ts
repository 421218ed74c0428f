/**
 * Writes layer tars: POSIX ustar headers, with a PAX extended header in front of an entry whenever
 * a value does not fit ustar (long or non-ASCII names, big sizes and ids, sub-second or negative
 * mtimes, xattrs). The same entries always give the same bytes: PAX keys are sorted, header-only
 * fields are zero, and nothing depends on the clock or the host.
 *
 * The archive ends with two zero blocks and no padding to a 10240-byte record: that is what Go's
 * archive/tar (and so Docker and BuildKit) writes, and diff IDs hash the exact bytes.
 */
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { TarError } from '../errors.js';
import type { EntryType, LayerEntry, TarEntry } from './entry.js';
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

const READ_CHUNK = 1024 * 1024;
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

/** The header blocks (an optional PAX header, then the ustar header) for one entry. */
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
  return Buffer.concat([encodePaxHeader(headerName, pax), header]);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function encodePaxHeader(realName: string, records: Array<[string, Buffer]>): Buffer {
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
  return Buffer.concat([header, data, padding(data.length)]);
}

function padding(size: number): Buffer {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? Buffer.alloc(0) : ZERO_BLOCK.subarray(0, BLOCK_SIZE - rest);
}

function fileChanged(entry: TarEntry, path: string, detail: string): TarError {
  return new TarError(
    'TAR_FILE_CHANGED',
    `file '${path}' changed while it was added to the layer as '${entry.path}': ${detail}`,
    { hint: 'something is writing to the build context or the snapshot during the build' },
  );
}

async function* readFileContent(entry: TarEntry, path: string): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    let remaining = entry.size;
    while (remaining > 0) {
      const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, remaining));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) throw fileChanged(entry, path, `it is shorter than ${entry.size} bytes`);
      remaining -= bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
    const probe = Buffer.alloc(1);
    const { bytesRead } = await handle.read(probe, 0, 1, null);
    if (bytesRead !== 0) throw fileChanged(entry, path, `it is longer than ${entry.size} bytes`);
  } finally {
    await handle.close();
  }
}

async function* entryContent(item: LayerEntry): AsyncGenerator<Buffer> {
  const { entry, source } = item;
  if (entry.type !== 'file' || entry.size === 0) {
    if (source.kind === 'buffer' && source.data.length !== 0 && entry.type !== 'file') {
      throw new TarError('TAR_INVALID_ENTRY', `'${entry.path}' is not a file but has content`);
    }
    if (source.kind === 'file' && entry.type === 'file') yield* readFileContent(entry, source.path);
    return;
  }
  if (source.kind === 'none') {
    throw new TarError(
      'TAR_INVALID_ENTRY',
      `file '${entry.path}' has a size but no content source`,
    );
  }
  if (source.kind === 'buffer') {
    if (source.data.length !== entry.size) {
      throw new TarError(
        'TAR_INVALID_ENTRY',
        `file '${entry.path}' declares ${entry.size} bytes but its buffer holds ${source.data.length}`,
      );
    }
    yield source.data;
    return;
  }
  yield* readFileContent(entry, source.path);
}

/**
 * The bytes of a tar holding `entries`, in order, as a stream of chunks. File content is read
 * from disk in 1 MiB pieces while the stream is consumed; each chunk is a fresh buffer.
 */
export async function* encodeTar(
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  options: TarWriteOptions = {},
): AsyncGenerator<Buffer> {
  for await (const item of entries) {
    yield encodeEntryHeader(item.entry, options);
    yield* entryContent(item);
    const pad = padding(item.entry.type === 'file' ? item.entry.size : 0);
    if (pad.length > 0) yield Buffer.from(pad);
  }
  yield Buffer.alloc(2 * BLOCK_SIZE);
}

const BATCH = 64 * 1024;

/** Writes a tar of `entries` to `out` (not ended afterwards), honouring backpressure. */
export async function writeTar(
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  out: Writable,
  options: TarWriteOptions = {},
): Promise<{ size: number }> {
  // An error on `out` while no write is pending must still stop us, not leave us waiting for
  // a 'drain' that never comes.
  let failure: Error | undefined;
  const onError = (err: Error) => {
    failure ??= err;
  };
  out.on('error', onError);

  let size = 0;
  let batch: Buffer[] = [];
  let batchLength = 0;
  const flush = async () => {
    if (batchLength === 0) return;
    const chunk = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchLength);
    batch = [];
    batchLength = 0;
    if (failure !== undefined) throw failure;
    if (out.destroyed) throw new TarError('TAR_OUTPUT_CLOSED', 'the tar output was closed early');
    if (!out.write(chunk)) await drained(out, () => failure);
  };

  try {
    for await (const chunk of encodeTar(entries, options)) {
      size += chunk.length;
      batch.push(chunk);
      batchLength += chunk.length;
      if (batchLength >= BATCH) await flush();
    }
    await flush();
    if (failure !== undefined) throw failure;
    return { size };
  } finally {
    out.off('error', onError);
  }
}

function drained(out: Writable, failure: () => Error | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      out.off('drain', onDrain);
      out.off('error', onFail);
      out.off('close', onFail);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onFail = () => {
      cleanup();
      reject(failure() ?? new TarError('TAR_OUTPUT_CLOSED', 'the tar output was closed early'));
    };
    out.on('drain', onDrain);
    out.on('error', onFail);
    out.on('close', onFail);
  });
}
