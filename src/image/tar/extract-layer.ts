/**
 * Applies a layer tar to a directory, in one of two forms:
 *  - 'overlay': the directory is one overlayfs layer; `.wh.NAME` becomes a 0/0 character device
 *    NAME and `.wh..wh..opq` the `<prefix>.overlay.opaque=y` xattr on its directory (prefix
 *    'user' for rootless overlay mounts with -o userxattr, 'trusted' otherwise);
 *  - 'apply': the directory is a whole rootfs; whiteouts delete what they name.
 * No entry may write outside the directory: absolute paths and '..' are refused, and parent
 * directories are resolved inside the root, so symlinks are followed as the container sees them.
 * File system calls are synchronous: a layer is thousands of small operations that the page cache
 * answers at once, and a round trip through libuv's thread pool for each cost more than the call.
 */
import {
  chmodSync,
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  type Stats,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { setAttributeSync } from 'fs-xattr';
import { decompress } from '../compress.js';
import { ExtractError } from '../errors.js';
import { OPAQUE_WHITEOUT, type TarEntry, WHITEOUT_PREFIX } from './entry.js';
import { EntryAttributes, setEntryTimes } from './entry-attributes.js';
import { layerPathComponents, resolveDirInRoot } from './resolve-in-root.js';
import { makeSpecialNodes, type SpecialNode } from './special-nodes.js';
import { readTar } from './tar-reader.js';
import { untarNames } from './untar-names.js';

export interface ExtractOptions {
  whiteouts: 'overlay' | 'apply';
  /** xattr namespace of overlay markers; default 'user' (rootless overlayfs, -o userxattr). */
  overlayXattrPrefix?: 'user' | 'trusted';
  /** Set owners from the tar; default: when running as root (in a user namespace counts). */
  chown?: boolean;
  /** Restore extended attributes; default true. */
  xattrs?: boolean;
  /**
   * 'untar' reads names as Docker's untar does for ADD: an absolute path (or hardlink target)
   * lands under the target directory and '..' that stays inside it is resolved; a name that
   * still climbs out is refused. Default 'layer': absolute names and any '..' are refused.
   */
  names?: 'layer' | 'untar';
}

export interface ExtractResult {
  entries: number;
  /** Things skipped because this process may not do them (devices, some xattrs, owners). */
  warnings: string[];
}

interface Pending {
  node: SpecialNode;
  entry: TarEntry;
  whiteout: boolean;
}

/** Extracts a layer (compressed or not: the magic bytes decide) into `targetDir`. */
export async function extractLayer(
  input: AsyncIterable<Buffer | string>,
  targetDir: string,
  options: ExtractOptions,
): Promise<ExtractResult> {
  const extractor = new LayerExtractor(await realpath(targetDir), options);
  for await (const { entry, content } of readTar(decompress(input))) {
    try {
      await extractor.add(entry, content);
    } catch (err) {
      if (err instanceof ExtractError) throw err;
      throw new ExtractError(
        'LAYER_EXTRACT_FAILED',
        `cannot extract layer entry '${entry.path}': ${(err as Error).message}`,
        entry.path,
        err,
      );
    }
  }
  return extractor.finish();
}

class LayerExtractor {
  private readonly attributes: EntryAttributes;
  private readonly opaqueXattr: string;
  /** Host paths this layer created or replaced: an opaque whiteout keeps only these. */
  private readonly created = new Set<string>();
  private readonly dirs: Array<{ path: string; entry: TarEntry; ino: number }> = [];
  private readonly nodes = new Map<string, Pending>();
  /**
   * Parent directories already resolved, by in-layer path: most entries share their parent with
   * the one before. Cleared whenever something is removed or a symlink is made, the only changes
   * that can alter how a path resolves.
   */
  private readonly resolved = new Map<string, string>();
  private count = 0;

  constructor(
    private readonly root: string,
    private readonly options: ExtractOptions,
  ) {
    this.attributes = new EntryAttributes(
      options.chown ?? process.getuid?.() === 0,
      options.xattrs ?? true,
    );
    this.opaqueXattr = `${options.overlayXattrPrefix ?? 'user'}.overlay.opaque`;
  }

  async add(original: TarEntry, content: AsyncIterable<Buffer>): Promise<void> {
    this.count++;
    const entry = this.options.names === 'untar' ? untarNames(original) : original;
    if (entry.path === '.') {
      if (entry.type !== 'dir') throw invalid(entry, 'the root of a layer must be a directory');
      this.applyDir(this.root, entry);
      return;
    }

    const parts = layerPathComponents(entry.path, entry.path);
    const base = parts.pop();
    if (base === undefined) throw invalid(entry, 'the path is empty');
    if (base.startsWith(WHITEOUT_PREFIX)) {
      // Deleting from a directory that is not there is a no-op: do not create it to do so.
      const parent =
        this.options.whiteouts === 'apply'
          ? this.existingParent(parts, entry.path)
          : this.resolveParent(parts, entry.path);
      if (parent !== undefined) this.whiteout(entry, parent, base);
      return;
    }
    const parent = this.resolveParent(parts, entry.path);
    const target = join(parent, base);
    this.nodes.delete(target);
    this.clear(target, entry.type === 'dir');
    this.markCreated(target);

    switch (entry.type) {
      case 'dir':
        try {
          mkdirSync(target, { mode: 0o700 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        this.applyDir(target, entry);
        return;
      case 'file':
        await writeContent(target, content);
        this.attributes.ownerAndXattrs(target, entry);
        chmodSync(target, entry.mode & 0o7777);
        setEntryTimes(target, entry);
        return;
      case 'symlink':
        this.resolved.clear();
        symlinkSync(entry.linkname ?? '', target);
        this.attributes.owner(target, entry);
        setEntryTimes(target, entry);
        return;
      case 'hardlink':
        linkSync(await this.hardlinkSource(entry), target);
        return;
      case 'char':
      case 'block':
      case 'fifo':
        this.nodes.set(target, {
          node: {
            path: target,
            kind: entry.type,
            major: entry.devmajor ?? 0,
            minor: entry.devminor ?? 0,
            mode: 0o600,
          },
          entry,
          whiteout: false,
        });
        return;
    }
  }

  private resolveParent(parts: string[], entryPath: string): string {
    const key = parts.join('/');
    const cached = this.resolved.get(key);
    if (cached !== undefined) return cached;
    const parent = resolveDirInRoot(this.root, parts, entryPath, {
      create: true,
      onCreate: (path) => this.markCreated(path),
    });
    this.resolved.set(key, parent);
    return parent;
  }

  private existingParent(parts: string[], entryPath: string): string | undefined {
    try {
      return resolveDirInRoot(this.root, parts, entryPath, { create: false });
    } catch (err) {
      if (err instanceof ExtractError && err.code === 'LAYER_INVALID_PATH') return undefined;
      throw err;
    }
  }

  /** Only apply mode needs the set (for opaque whiteouts); a big layer would pay for it. */
  private markCreated(path: string): void {
    if (this.options.whiteouts === 'apply') this.created.add(path);
  }

  private remove(path: string): void {
    this.resolved.clear();
    rmSync(path, { recursive: true, force: true });
  }

  async finish(): Promise<ExtractResult> {
    await this.flushNodes();
    // Directory modes and times last: creating children changes a directory's mtime, and a
    // read-only directory would stop an unprivileged extractor from creating them.
    for (const { path, entry, ino } of this.dirs.reverse()) {
      const stats = statOrNone(path);
      if (stats === undefined || !stats.isDirectory() || stats.ino !== ino) continue;
      chmodSync(path, entry.mode & 0o7777);
      setEntryTimes(path, entry);
    }
    return { entries: this.count, warnings: this.attributes.warnings() };
  }

  private whiteout(entry: TarEntry, parent: string, base: string): void {
    if (base === OPAQUE_WHITEOUT) {
      if (this.options.whiteouts === 'overlay') {
        setAttributeSync(parent, this.opaqueXattr, Buffer.from('y'));
      } else {
        this.removeNotCreated(parent);
      }
      return;
    }
    // Other '.wh..wh.' names are AUFS bookkeeping (e.g. '.wh..wh.plnk'), not whiteouts.
    if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return;
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') throw invalid(entry, 'bad whiteout name');

    const target = join(parent, name);
    this.nodes.delete(target);
    this.remove(target);
    if (this.options.whiteouts === 'apply') return;
    this.markCreated(target);
    this.nodes.set(target, {
      node: { path: target, kind: 'char', major: 0, minor: 0, mode: 0 },
      entry,
      whiteout: true,
    });
  }

  /** Makes room for an entry: anything there goes, except a directory that stays a directory. */
  private clear(target: string, keepDir: boolean): void {
    const stats = statOrNone(target);
    if (stats === undefined) return;
    if (keepDir && stats.isDirectory()) return;
    this.remove(target);
  }

  private removeNotCreated(dir: string): void {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!this.created.has(path)) {
        this.remove(path);
        continue;
      }
      if (lstatSync(path).isDirectory()) this.removeNotCreated(path);
    }
  }

  private async hardlinkSource(entry: TarEntry): Promise<string> {
    const parts = layerPathComponents(entry.linkname ?? '', entry.path, 'link target');
    const base = parts.pop();
    if (base === undefined) throw invalid(entry, 'the hardlink has no target');
    let parent: string;
    try {
      parent = resolveDirInRoot(this.root, parts, entry.path, { create: false });
    } catch (err) {
      if (err instanceof ExtractError && err.code === 'LAYER_PATH_ESCAPE') {
        throw new ExtractError('LAYER_LINK_ESCAPE', err.message, entry.path);
      }
      throw err;
    }
    const source = join(parent, base);
    if (this.nodes.has(source)) await this.flushNodes();
    const stats = statOrNone(source);
    if (stats === undefined) throw invalid(entry, `hardlink target '${entry.linkname}' is missing`);
    if (stats.isDirectory()) throw invalid(entry, 'a hardlink cannot point at a directory');
    return source;
  }

  private applyDir(path: string, entry: TarEntry): void {
    this.attributes.ownerAndXattrs(path, entry);
    this.dirs.push({ path, entry, ino: lstatSync(path).ino });
  }

  private async flushNodes(): Promise<void> {
    if (this.nodes.size === 0) return;
    const pending = [...this.nodes.values()];
    this.nodes.clear();
    const failed = await makeSpecialNodes(pending.map((p) => p.node));
    for (const { node, entry, whiteout } of pending) {
      if (failed.has(node.path)) {
        if (whiteout) {
          throw new ExtractError(
            'LAYER_EXTRACT_FAILED',
            `cannot create the overlay whiteout for '${entry.path}' (mknod 0/0 was refused)`,
            entry.path,
          );
        }
        this.attributes.warn(
          `node:${entry.type}`,
          `skipped ${entry.type} '${entry.path}': mknod refused`,
        );
        continue;
      }
      this.attributes.ownerAndXattrs(node.path, entry);
      if (!whiteout) chmodSync(node.path, entry.mode & 0o7777);
      setEntryTimes(node.path, entry);
    }
  }
}

async function writeContent(target: string, content: AsyncIterable<Buffer>): Promise<void> {
  // 'wx' fails if anything (a symlink planted by an earlier entry) is there, so the write can
  // never be redirected.
  const fd = openSync(target, 'wx', 0o600);
  try {
    for await (const chunk of content) {
      let offset = 0;
      while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
    }
  } finally {
    closeSync(fd);
  }
}

/** lstat, or undefined when there is nothing (or nothing this process may look at) there. */
function statOrNone(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function invalid(entry: TarEntry, detail: string): ExtractError {
  return new ExtractError(
    'LAYER_INVALID_PATH',
    `layer entry '${entry.path}': ${detail}`,
    entry.path,
  );
}
