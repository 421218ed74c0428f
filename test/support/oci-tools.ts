import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chown,
  lstat,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAttribute, listAttributes } from 'fs-xattr';
import { type CommandResult, runCommand } from './command.js';

// Thin wrappers over the tools tests use as oracles: skopeo to read images, umoci to unpack
// layouts, runc to run what was unpacked. They run the real programs; nothing is emulated.

const isRoot = process.getuid?.() === 0;

/** Someone to run umoci or runc as (root only), e.g. a TestUser from users.ts. */
export interface Invoker {
  uid: number;
  gid: number;
  home?: string;
}

function invokerOptions(as: Invoker | undefined) {
  if (!as) return {};
  // The caller's runtime directory belongs to the caller; runc would try to use it.
  const { XDG_RUNTIME_DIR: _runtimeDir, ...env } = process.env;
  env.HOME = as.home ?? '/';
  return { uid: as.uid, gid: as.gid, env };
}

export interface InspectOptions {
  /** The manifest or index exactly as stored (`--raw`). */
  raw?: boolean;
  /** The image config (`--config`). */
  config?: boolean;
}

/**
 * `skopeo inspect REF` parsed as JSON. REF has a transport (oci:DIR:TAG, docker://HOST/REPO:TAG).
 * Registries are reached without TLS verification: tests only talk to ones on loopback.
 */
export async function skopeoInspect(
  ref: string,
  opts: InspectOptions = {},
): Promise<Record<string, unknown>> {
  const args = ['inspect'];
  if (opts.raw) args.push('--raw');
  if (opts.config) args.push('--config');
  if (ref.startsWith('docker://')) args.push('--tls-verify=false');
  const { stdout } = await runCommand('skopeo', [...args, ref], { timeoutMs: 60_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/**
 * `umoci unpack` of layoutDir:tag into a new runtime bundle (bundleDir/rootfs and config.json).
 * As root, owners, modes and xattrs are restored as stored; otherwise (or as another user)
 * umoci's rootless mode makes everything owned by the caller, and the bundle's config is
 * rootless. umoci cannot unpack a tag that names an index.
 */
export async function umociUnpack(
  layoutDir: string,
  tag: string,
  bundleDir: string,
  opts: { as?: Invoker } = {},
): Promise<void> {
  const rootless = !isRoot || opts.as !== undefined;
  const args = ['unpack', ...(rootless ? ['--rootless'] : []), '--image', `${layoutDir}:${tag}`];
  await runCommand('umoci', [...args, bundleDir], {
    timeoutMs: 300_000,
    ...invokerOptions(opts.as),
  });
}

export interface RuncOptions {
  /** Replaces the image's environment when given. */
  env?: string[];
  cwd?: string;
  user?: { uid: number; gid: number };
  /** runc --rootless; on by default when not root or when run as another user. */
  rootless?: boolean;
  /** Runs runc as this user (root only); the bundle should come from umociUnpack with it. */
  as?: Invoker;
  input?: string;
  timeoutMs?: number;
}

interface RuntimeConfig {
  process: {
    args: string[];
    terminal?: boolean;
    env?: string[];
    cwd?: string;
    user?: { uid: number; gid: number };
  };
}

let containerCount = 0;

/**
 * Runs args in a bundle made by umociUnpack, with runc, and returns what it printed. The
 * container gets a unique id and a throwaway state directory, and is deleted afterwards even
 * when it fails. Edits the bundle's config.json in place.
 */
export async function runcRun(
  bundleDir: string,
  args: string[],
  opts: RuncOptions = {},
): Promise<CommandResult> {
  const configPath = join(bundleDir, 'config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as RuntimeConfig;
  config.process.args = args;
  config.process.terminal = false;
  if (opts.env) config.process.env = opts.env;
  if (opts.cwd) config.process.cwd = opts.cwd;
  if (opts.user) config.process.user = { ...config.process.user, ...opts.user };
  await writeFile(configPath, JSON.stringify(config, null, 2));

  containerCount += 1;
  const id = `kilntest-${process.pid}-${containerCount}-${randomBytes(3).toString('hex')}`;
  const stateRoot = await mkdtemp(join(tmpdir(), 'kiln-runc-'));
  if (opts.as) await chown(stateRoot, opts.as.uid, opts.as.gid);
  const rootless = opts.rootless ?? (!isRoot || opts.as !== undefined);
  const global = ['--root', stateRoot, ...(rootless ? ['--rootless=true'] : [])];
  const as = invokerOptions(opts.as);
  try {
    return await runCommand('runc', [...global, 'run', '--bundle', bundleDir, id], {
      check: false,
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? 120_000,
      ...as,
    });
  } finally {
    await runCommand('runc', [...global, 'delete', '--force', id], { check: false, ...as });
    await rm(stateRoot, { recursive: true, force: true });
  }
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface RootfsEntry {
  type: EntryType;
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of a regular file; 0 for everything else. */
  size: number;
  /** `sha256:<hex>` of a regular file's content. */
  sha256?: string;
  /** A symlink's target. */
  link?: string;
  /** Hard link count: paths of one hard-linked file show the same inode. */
  nlink: number;
  ino: number;
  /** Whole seconds. */
  mtime: number;
  /** Extended attributes of files and directories, values base64. */
  xattrs?: Record<string, string>;
}

/**
 * The merged filesystem of layoutDir:tag: every path (absolute, as seen inside the image)
 * mapped to what lies there. It is read by unpacking with umoci, so umoci's application of
 * layers and whiteouts is the oracle; owners are only exact when run as root.
 */
export async function readMergedRootfs(
  layoutDir: string,
  tag: string,
): Promise<Map<string, RootfsEntry>> {
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-rootfs-'));
  try {
    const bundle = join(scratch, 'bundle');
    await umociUnpack(layoutDir, tag, bundle);
    const entries = new Map<string, RootfsEntry>();
    await walk(join(bundle, 'rootfs'), '', entries);
    return entries;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function walk(dir: string, prefix: string, out: Map<string, RootfsEntry>): Promise<void> {
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const inside = `${prefix}/${name}`;
    const entry = await describeEntry(path);
    out.set(inside, entry);
    if (entry.type === 'dir') await walk(path, inside, out);
  }
}

async function describeEntry(path: string): Promise<RootfsEntry> {
  const info = await lstat(path);
  const type = entryType(info);
  const entry: RootfsEntry = {
    type,
    mode: info.mode & 0o7777,
    uid: info.uid,
    gid: info.gid,
    size: type === 'file' ? info.size : 0,
    nlink: info.nlink,
    ino: info.ino,
    mtime: Math.floor(info.mtimeMs / 1000),
  };
  if (type === 'file') entry.sha256 = await sha256Of(path);
  if (type === 'symlink') entry.link = await readlink(path);
  // fs-xattr follows symlinks, so a symlink's own xattrs cannot be read with it.
  if (type === 'file' || type === 'dir') {
    const names = (await listAttributes(path)).sort();
    if (names.length > 0) {
      entry.xattrs = {};
      for (const attr of names) {
        entry.xattrs[attr] = (await getAttribute(path, attr)).toString('base64');
      }
    }
  }
  return entry;
}

function entryType(info: import('node:fs').Stats): EntryType {
  if (info.isFile()) return 'file';
  if (info.isDirectory()) return 'dir';
  if (info.isSymbolicLink()) return 'symlink';
  if (info.isCharacterDevice()) return 'char';
  if (info.isBlockDevice()) return 'block';
  if (info.isFIFO()) return 'fifo';
  return 'socket';
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}
