/**
 * Writes files into a fresh layer directory that sits above a destination image. Directories the
 * image already has are re-created with their existing mode, owner and xattrs (so the layer does
 * not change them); directories that must be made are 0755, owned by root or the --chown owner,
 * as BuildKit makes a COPY's missing parents. Directory times are set last, deepest first.
 * File system calls are synchronous: per file they are answered from the page cache faster than a
 * round trip through libuv's thread pool, which dominated copies of many small files.
 */

import { spawn } from 'node:child_process';
import {
  type BigIntStats,
  chmodSync,
  chownSync,
  constants,
  copyFileSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { setAttributeSync } from 'fs-xattr';
import { BuildError } from '../../errors.js';
import { deviceNumbers, readXattrs } from '../snapshot/entry-from-stat.js';
import type { LayerStack } from '../snapshot/layer-stack.js';
import { pathComponents } from '../snapshot/layer-stack.js';

export interface Owner {
  uid: number;
  gid: number;
}

export interface DirMeta {
  /** The source directory's stat (for mtime and xattrs). */
  stat: BigIntStats;
  owner: Owner;
  mode: number;
}

interface DirFinal {
  hostPath: string;
  /** Copy metadata from here (an image dir kept as it is, or a source dir). */
  from?: { hostPath: string; stat: BigIntStats; owner: Owner; mode: number };
  /** Keep the original mtime unless something new was created directly inside. */
  keepMtime: boolean;
  received: boolean;
}

const secs = (ns: bigint): number => Number(ns) / 1e9;

const DEVICE_HINT =
  'a user namespace may not create device nodes: build as root with --isolation=chroot';

/** Runs coreutils' mknod or mkfifo; a refusal becomes one typed error naming the layer path. */
function makeNode(cmd: string, args: string[], containerPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) {
        resolve();
        return;
      }
      // coreutils says "PROGRAM: PATH: REASON"; the program and the host path help nobody.
      const reason = err.trim().split(': ').at(-1) || `exit code ${code}`;
      const what = path.basename(cmd) === 'mkfifo' ? 'FIFO' : 'device node';
      reject(
        new BuildError(
          'COPY_SPECIAL_FILE',
          `cannot copy the ${what} ${containerPath}: ${reason}`,
          what === 'FIFO' ? {} : { hint: DEVICE_HINT },
        ),
      );
    });
  });
}

function exists(p: string): BigIntStats | undefined {
  try {
    return lstatSync(p, { bigint: true });
  } catch {
    return undefined;
  }
}

export class LayerWriter {
  private readonly dirs = new Map<string, DirFinal>();
  private readonly deferred = new Map<string, DirMeta>();
  private readonly links = new Map<string, string>();

  constructor(
    private readonly targetDir: string,
    private readonly stack: LayerStack,
    private readonly chownTo?: Owner,
  ) {}

  private host(containerPath: string): string {
    return path.join(this.targetDir, ...pathComponents(containerPath));
  }

  private received(containerPath: string): void {
    const parent = path.posix.dirname(containerPath);
    const d = this.dirs.get(parent);
    if (d !== undefined) d.received = true;
  }

  /** Metadata for a directory that is only created if something inside it is copied. */
  deferDir(containerPath: string, meta: DirMeta): void {
    this.deferred.set(path.posix.normalize(containerPath), meta);
  }

  /** Makes every directory above `containerPath`. */
  async ensureParents(containerPath: string): Promise<void> {
    // A parent this writer made already has all of its own parents. Without this shortcut every
    // file of a tree n directories deep rebuilt n ancestor paths of up to n components each.
    const parent = path.posix.dirname(path.posix.normalize(containerPath));
    if (this.dirs.has(parent)) return;
    const parts = pathComponents(containerPath);
    for (let i = 1; i < parts.length; i++) await this.ensureOne(`/${parts.slice(0, i).join('/')}`);
  }

  private async ensureOne(dir: string): Promise<void> {
    if (this.dirs.has(dir)) return;
    const hostPath = this.host(dir);
    const onDisk = exists(hostPath);
    if (onDisk?.isDirectory()) return;

    const deferred = this.deferred.get(dir);
    const hit = deferred === undefined ? await this.stack.lstat(dir) : undefined;
    if (hit !== undefined && !hit.stat.isDirectory()) {
      throw new BuildError('COPY_NOT_DIR', `cannot copy to ${dir}: not a directory`);
    }
    if (onDisk !== undefined) rmSync(hostPath, { recursive: true, force: true });
    mkdirSync(hostPath, { mode: 0o755 });
    this.received(dir);

    if (deferred !== undefined) {
      this.dirs.set(dir, {
        hostPath,
        from: { ...deferred, hostPath: '' },
        keepMtime: true,
        received: false,
      });
    } else if (hit !== undefined) {
      const st = hit.stat;
      const from = {
        hostPath: hit.hostPath,
        stat: st,
        owner: { uid: Number(st.uid), gid: Number(st.gid) },
        mode: Number(st.mode & 0o7777n),
      };
      this.dirs.set(dir, { hostPath, from, keepMtime: true, received: false });
    } else {
      const owner = this.chownTo ?? { uid: 0, gid: 0 };
      chownSync(hostPath, owner.uid, owner.gid);
      chmodSync(hostPath, 0o755);
      this.dirs.set(dir, { hostPath, keepMtime: false, received: true });
    }
  }

  /**
   * A directory the copy produces. The top destination of a directory source keeps an existing
   * image directory's metadata (Docker copies only the contents); a nested one (`nested`) takes
   * the source directory's.
   */
  async ensureDir(dir: string, meta: DirMeta, nested = false): Promise<void> {
    const norm = path.posix.normalize(dir);
    await this.ensureParents(norm);
    if (norm === '/') return;
    if (!nested) {
      const hit = await this.stack.lstat(norm);
      if (hit?.stat.isDirectory() === true) {
        await this.ensureOne(norm);
        return;
      }
      if (hit !== undefined)
        throw new BuildError('COPY_NOT_DIR', `cannot copy a directory to ${norm}: not a directory`);
    }
    const hostPath = this.host(norm);
    const onDisk = exists(hostPath);
    if (onDisk !== undefined && !onDisk.isDirectory()) rmSync(hostPath, { force: true });
    if (!onDisk?.isDirectory()) {
      mkdirSync(hostPath, { mode: 0o755 });
      this.received(norm);
    }
    this.dirs.set(norm, {
      hostPath,
      from: { ...meta, hostPath: '' },
      keepMtime: true,
      received: false,
    });
    this.deferredSource.set(norm, meta);
  }

  private readonly deferredSource = new Map<string, DirMeta>();

  /**
   * Copies one non-directory (file, symlink, FIFO, device) to `containerPath`. With
   * `devicesAsFiles` a device node becomes an empty regular file, as Docker's context transfer
   * delivers one.
   */
  async writeNode(
    src: string,
    containerPath: string,
    st: BigIntStats,
    owner: Owner,
    mode: number,
    devicesAsFiles = false,
  ): Promise<void> {
    const dest = this.host(containerPath);
    if (exists(dest) !== undefined) rmSync(dest, { recursive: true, force: true });
    this.received(containerPath);

    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1n ? this.links.get(key) : undefined;
    if (first !== undefined) {
      linkSync(first, dest);
      return;
    }
    if (st.nlink > 1n) this.links.set(key, dest);

    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(src), dest);
      lchownSync(dest, owner.uid, owner.gid);
      lutimesSync(dest, secs(st.atimeNs), secs(st.mtimeNs));
      return;
    }
    const isDevice = st.isCharacterDevice() || st.isBlockDevice();
    if (st.isFile()) {
      copyFileSync(src, dest, constants.COPYFILE_FICLONE);
    } else if (isDevice && devicesAsFiles) {
      writeFileSync(dest, '');
    } else if (st.isFIFO()) {
      await makeNode('/usr/bin/mkfifo', [dest], containerPath);
    } else if (isDevice) {
      const { major, minor } = deviceNumbers(st.rdev);
      const kind = st.isCharacterDevice() ? 'c' : 'b';
      await makeNode('/usr/bin/mknod', [dest, kind, String(major), String(minor)], containerPath);
    } else {
      return; // Sockets cannot be carried in a layer.
    }
    chownSync(dest, owner.uid, owner.gid);
    // chmod after chown: chown clears setuid/setgid bits.
    chmodSync(dest, mode);
    await copyXattrs(src, dest, this.stack.xattrPrefix);
    // Node's utimes takes seconds as a double: digits below about a microsecond are lost.
    lutimesSync(dest, secs(st.atimeNs), secs(st.mtimeNs));
  }

  /** Applies directory metadata, deepest first, after everything inside exists. */
  async finish(): Promise<void> {
    const ordered = [...this.dirs.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [dir, d] of ordered) {
      const from = d.from;
      if (from === undefined) continue;
      chownSync(d.hostPath, from.owner.uid, from.owner.gid);
      chmodSync(d.hostPath, from.mode);
      const srcHost = from.hostPath !== '' ? from.hostPath : undefined;
      if (srcHost !== undefined) await copyXattrs(srcHost, d.hostPath, this.stack.xattrPrefix);
      const isSource = this.deferredSource.has(dir) || from.hostPath === '';
      if (isSource || (d.keepMtime && !d.received)) {
        lutimesSync(d.hostPath, secs(from.stat.atimeNs), secs(from.stat.mtimeNs));
      }
    }
  }
}

async function copyXattrs(src: string, dest: string, prefix: 'user' | 'trusted'): Promise<void> {
  for (const [name, value] of Object.entries(readXattrs(src, prefix) ?? {})) {
    // security.* and trusted.* may be refused inside a user namespace; the copy goes on without.
    try {
      setAttributeSync(dest, name, value);
    } catch {
      // Refused: the copy goes on without it.
    }
  }
}
