/**
 * One entry of a layer tar, as the codec reads and writes it. This type is the seam between the
 * snapshotter (which finds what changed), the file operations (COPY/ADD) and the tar codec.
 */

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** Path inside the layer, relative, '/'-separated, no leading './' or '/'. Dirs have no trailing '/'. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (07777); never the file type bits. */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Byte length of the content; 0 for everything but regular files. */
  size: number;
  /** Modification time in nanoseconds since the epoch (PAX keeps sub-second precision). */
  mtimeNs: bigint;
  /** Target of a symlink, or the in-layer path a hardlink points at. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, values as raw bytes (security.capability is binary). */
  xattrs?: Record<string, Buffer>;
}

/** Where the bytes of a regular file come from when writing a layer. */
export type EntrySource =
  | { kind: 'none' }
  | { kind: 'file'; path: string }
  | { kind: 'buffer'; data: Buffer };

/** An entry together with the source of its content, as the tar writer consumes it. */
export interface LayerEntry {
  entry: TarEntry;
  source: EntrySource;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
