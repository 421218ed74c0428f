/**
 * Reads tar streams: ustar, PAX (per-entry 'x' and global 'g' headers), GNU long names ('L', 'K'),
 * base-256 numbers and the ustar prefix. Each entry's content is streamed; whatever the consumer
 * leaves unread is skipped when it asks for the next entry.
 *
 * Paths lose a leading './' and a directory's trailing '/', but keep a leading '/' and any '..':
 * deciding what is safe is the extractor's job, and it must see what the archive really says.
 */
import { TarError } from '../errors.js';
import { ByteSource } from './byte-source.js';
import type { EntryType, TarEntry } from './entry.js';
import { decodePaxRecords, type PaxRecords, parsePaxTime } from './pax.js';
import { BLOCK_SIZE, decodeHeader, isZeroBlock, type RawHeader } from './tar-header.js';

export interface TarItem {
  entry: TarEntry;
  /** The entry's bytes; only readable until the next item is requested. */
  content: AsyncIterable<Buffer>;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Metadata blocks that describe the next entry must stay small; a huge one is an attack. */
const MAX_META_SIZE = 16 * 1024 * 1024;
const CHUNK = 1024 * 1024;

function normalizePath(raw: string): string {
  let path = raw;
  while (path.startsWith('./')) path = path.slice(2);
  if (path.length > 1) path = path.replace(/\/+$/, '');
  if (path === '' || path === '.') return '.';
  return path;
}

function paxText(records: PaxRecords, key: string): string | undefined {
  const value = records.get(key);
  return value === undefined || value.length === 0 ? undefined : value.toString('utf8');
}

function paxNumber(records: PaxRecords, key: string): number | undefined {
  const text = paxText(records, key);
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new TarError('TAR_CORRUPT', `invalid PAX ${key} '${text}'`);
  }
  return Number(text);
}

function buildEntry(
  header: RawHeader,
  pax: PaxRecords,
  longName: string | undefined,
  longLink: string | undefined,
): TarEntry {
  if (pax.has('GNU.sparse.major') || pax.has('GNU.sparse.size') || header.typeflag === 'S') {
    throw new TarError(
      'TAR_UNSUPPORTED',
      `sparse tar entries are not supported ('${header.name}')`,
    );
  }
  const rawName =
    paxText(pax, 'path') ??
    longName ??
    (header.prefix === '' ? header.name : `${header.prefix}/${header.name}`);
  let type = TYPES[header.typeflag];
  if (type === undefined) {
    throw new TarError(
      'TAR_UNSUPPORTED',
      `tar entry '${rawName}' has unsupported type flag '${header.typeflag}'`,
    );
  }
  if (type === 'file' && rawName.endsWith('/') && header.typeflag !== '7') type = 'dir';

  const entry: TarEntry = {
    path: normalizePath(rawName),
    type,
    mode: header.mode & 0o7777,
    uid: paxNumber(pax, 'uid') ?? header.uid,
    gid: paxNumber(pax, 'gid') ?? header.gid,
    size: type === 'file' ? (paxNumber(pax, 'size') ?? header.size) : 0,
    mtimeNs: pax.has('mtime')
      ? parsePaxTime(pax.get('mtime')!.toString('latin1'))
      : BigInt(header.mtime) * 1_000_000_000n,
  };
  const uname = paxText(pax, 'uname') ?? header.uname;
  const gname = paxText(pax, 'gname') ?? header.gname;
  if (uname !== '') entry.uname = uname;
  if (gname !== '') entry.gname = gname;
  if (type === 'symlink' || type === 'hardlink') {
    entry.linkname = paxText(pax, 'linkpath') ?? longLink ?? header.linkname;
    if (type === 'hardlink') entry.linkname = normalizePath(entry.linkname);
  }
  if (type === 'char' || type === 'block') {
    entry.devmajor = header.devmajor;
    entry.devminor = header.devminor;
  }
  const xattrs = xattrsOf(pax);
  if (xattrs !== undefined) entry.xattrs = xattrs;
  return entry;
}

function xattrsOf(pax: PaxRecords): Record<string, Buffer> | undefined {
  let xattrs: Record<string, Buffer> | undefined;
  for (const [key, value] of pax) {
    let name: string | undefined;
    let data = value;
    if (key.startsWith('SCHILY.xattr.')) name = key.slice('SCHILY.xattr.'.length);
    else if (key.startsWith('LIBARCHIVE.xattr.')) {
      // libarchive percent-encodes the name and base64-encodes the value.
      name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
      data = Buffer.from(value.toString('latin1'), 'base64');
    }
    if (name === undefined || name === '') continue;
    xattrs ??= {};
    xattrs[name] = data;
  }
  return xattrs;
}

function cString(data: Buffer): string {
  const nul = data.indexOf(0);
  return data.toString('utf8', 0, nul < 0 ? data.length : nul);
}

function paddingOf(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}

/**
 * Iterates the entries of a tar stream. Throws TarError: TAR_TRUNCATED when the stream ends
 * early, TAR_CHECKSUM / TAR_CORRUPT for damaged headers, TAR_UNSUPPORTED for sparse files and
 * unknown entry types.
 */
export async function* readTar(
  input: AsyncIterable<Buffer | string>,
): AsyncGenerator<TarItem, void, undefined> {
  const source = new ByteSource(input);
  const globalPax: PaxRecords = new Map();
  let localPax: PaxRecords | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let finishCurrent: (() => Promise<void>) | undefined;

  const readMeta = async (header: RawHeader): Promise<Buffer> => {
    if (header.size > MAX_META_SIZE) {
      throw new TarError('TAR_CORRUPT', `tar metadata entry of ${header.size} bytes is too large`);
    }
    const data = (await source.readExact(header.size, 'an extended header')) ?? Buffer.alloc(0);
    if (data.length < header.size) throw new TarError('TAR_TRUNCATED', 'tar ends in a header');
    await source.skip(paddingOf(header.size), 'header padding');
    return data;
  };

  try {
    for (;;) {
      if (finishCurrent !== undefined) await finishCurrent();
      finishCurrent = undefined;

      const block = await source.readExact(BLOCK_SIZE, 'a header');
      const pending = localPax !== undefined || longName !== undefined || longLink !== undefined;
      if (block === null || isZeroBlock(block)) {
        if (pending) {
          throw new TarError('TAR_TRUNCATED', 'tar ends after an extended header with no entry');
        }
        if (block !== null) {
          // Go's archive/tar and GNU tar both accept a lone zero block before the end of input.
          const second = await source.readExact(BLOCK_SIZE, 'the end-of-archive marker');
          if (second !== null && !isZeroBlock(second)) {
            throw new TarError('TAR_CORRUPT', 'tar has a zero block followed by data');
          }
          await source.drain();
        }
        return;
      }

      const header = decodeHeader(block);
      switch (header.typeflag) {
        case 'x': {
          localPax ??= new Map();
          for (const [key, value] of decodePaxRecords(await readMeta(header))) {
            localPax.set(key, value);
          }
          continue;
        }
        case 'g': {
          for (const [key, value] of decodePaxRecords(await readMeta(header))) {
            if (value.length === 0) globalPax.delete(key);
            else globalPax.set(key, value);
          }
          continue;
        }
        case 'L':
          longName = cString(await readMeta(header));
          continue;
        case 'K':
          longLink = cString(await readMeta(header));
          continue;
      }

      const pax: PaxRecords = new Map(globalPax);
      // A per-entry record with an empty value removes the global one (POSIX pax rules).
      for (const [key, value] of localPax ?? []) {
        if (value.length === 0) pax.delete(key);
        else pax.set(key, value);
      }
      const entry = buildEntry(header, pax, longName, longLink);
      localPax = undefined;
      longName = undefined;
      longLink = undefined;

      // Header-only types carry no data even when the size field says otherwise (as Go reads them).
      const dataSize = entry.type === 'file' ? entry.size : 0;
      const item = contentReader(source, entry, dataSize);
      finishCurrent = item.finish;
      yield { entry, content: item.content };
    }
  } finally {
    await source.close();
  }
}

function contentReader(source: ByteSource, entry: TarEntry, size: number) {
  let remaining = size;
  let finished = false;
  const what = `the content of '${entry.path}'`;

  async function* content(): AsyncGenerator<Buffer> {
    if (finished) {
      throw new TarError(
        'TAR_CONTENT_CONSUMED',
        `content of '${entry.path}' read after the next entry was requested`,
      );
    }
    while (remaining > 0) {
      const chunk = await source.readSome(Math.min(remaining, CHUNK), what);
      remaining -= chunk.length;
      yield chunk;
    }
  }

  const finish = async () => {
    finished = true;
    await source.skip(remaining + paddingOf(size), what);
    remaining = 0;
  };
  return { content: { [Symbol.asyncIterator]: content }, finish };
}
