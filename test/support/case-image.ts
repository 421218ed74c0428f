/**
 * Reads an image that kiln wrote as an OCI layout without any of kiln's code: the JSON is read
 * by hand, each layer is listed by GNU tar (which also decompresses it), and the merged root
 * filesystem comes from umoci (see readMergedRootfs), so the oracles are independent programs.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './command.js';
import { type RootfsEntry, readMergedRootfs } from './oci-tools.js';

export type TarType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One raw entry of a layer tar, as GNU tar lists it. */
export interface TarEntry {
  /** Position in the layer, from 0. */
  index: number;
  /** Absolute and normalized: `etc/./a/` is `/etc/a`, the root entry is `/`. */
  path: string;
  /** The name exactly as stored, for extracting the member. */
  rawName: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  /** Empty when the header names no user (GNU tar then shows the number). */
  uname: string;
  gname: string;
  size: number;
  /** Symlink target, or a hard link's link name, as stored. */
  link?: string;
  /** Whole seconds, UTC. */
  mtime: number;
}

export interface CaseImage {
  layoutDir: string;
  tag: string;
  manifest: Record<string, unknown>;
  config: Record<string, unknown>;
  /** Layer blob paths, bottom first. */
  layerBlobs: string[];
  /** Raw entries of each layer, bottom first. */
  layers: TarEntry[][];
  /** The merged root filesystem as umoci unpacked it. */
  rootfs: Map<string, RootfsEntry>;
  /** The tar entry that provides each path of the merged view (whiteouts applied). */
  headers: Map<string, TarEntry>;
}

const TYPE_CHARS: Record<string, TarType> = {
  '-': 'file',
  d: 'dir',
  l: 'symlink',
  h: 'hardlink',
  c: 'char',
  b: 'block',
  p: 'fifo',
};

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

export function blobFile(layoutDir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(layoutDir, 'blobs', alg ?? '', hex ?? '');
}

/** Reads the manifest named `tag` in an OCI layout, its config and every layer. */
export async function readCaseImage(layoutDir: string, tag = 'latest'): Promise<CaseImage> {
  const index = await readJson(join(layoutDir, 'index.json'));
  const manifests = (index.manifests ?? []) as Record<string, unknown>[];
  const named = manifests.filter(
    (m) =>
      (m.annotations as Record<string, string> | undefined)?.[
        'org.opencontainers.image.ref.name'
      ] === tag,
  );
  if (named.length !== 1) throw new Error(`index.json has ${named.length} manifests named ${tag}`);
  const manifest = await readJson(blobFile(layoutDir, named[0]!.digest as string));
  const configDesc = manifest.config as { digest: string };
  const config = await readJson(blobFile(layoutDir, configDesc.digest));
  const layerDescs = (manifest.layers ?? []) as { digest: string }[];
  const layerBlobs = layerDescs.map((l) => blobFile(layoutDir, l.digest));
  const layers: TarEntry[][] = [];
  for (const blob of layerBlobs) layers.push(await listLayer(blob));
  const rootfs = await readMergedRootfs(layoutDir, tag);
  return {
    layoutDir,
    tag,
    manifest,
    config,
    layerBlobs,
    layers,
    rootfs,
    headers: mergeHeaders(layers),
  };
}

/** Lists a layer blob (any compression GNU tar detects) entry by entry. */
export async function listLayer(blob: string): Promise<TarEntry[]> {
  const env = { ...process.env, TZ: 'UTC', LC_ALL: 'C' };
  const base = ['-t', '-v', '--full-time', '--quoting-style=c', '-f', blob];
  const numeric = await runCommand('tar', [...base, '--numeric-owner'], { env });
  const named = await runCommand('tar', base, { env });
  const numLines = numeric.stdout.split('\n').filter((l) => l !== '');
  const nameLines = named.stdout.split('\n').filter((l) => l !== '');
  if (numLines.length !== nameLines.length) throw new Error(`GNU tar listed ${blob} unevenly`);
  return numLines.map((line, index) => {
    const num = parseListing(line);
    const names = parseListing(nameLines[index]!);
    const uid = Number(num.owner);
    const gid = Number(num.group);
    // GNU tar prints the number when the header has no name.
    const uname = names.owner === String(uid) ? '' : names.owner;
    const gname = names.group === String(gid) ? '' : names.group;
    return { index, ...num.entry, uid, gid, uname, gname };
  });
}

const LISTING =
  /^(\S)(\S{9})\s+([^/\s]*)\/(\S*)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d(?:\.\d+)?)?)\s+("(?:[^"\\]|\\.)*")(?: (->|link to) ("(?:[^"\\]|\\.)*"))?$/;

function parseListing(line: string): {
  owner: string;
  group: string;
  entry: Omit<TarEntry, 'index' | 'uid' | 'gid' | 'uname' | 'gname'>;
} {
  const m = LISTING.exec(line);
  if (!m) throw new Error(`cannot parse GNU tar listing line: ${line}`);
  const type = TYPE_CHARS[m[1]!];
  if (!type) throw new Error(`unknown entry type ${m[1]} in: ${line}`);
  const rawName = unquote(m[7]!);
  const isDevice = type === 'char' || type === 'block';
  const entry = {
    path: normalizeTarPath(rawName),
    rawName,
    type,
    mode: permBits(m[2]!),
    size: isDevice ? 0 : Number(m[5]),
    mtime: Math.floor(Date.parse(`${m[6]!.replace(' ', 'T')}Z`) / 1000),
    ...(m[9] ? { link: unquote(m[9]) } : {}),
  };
  return { owner: m[3]!, group: m[4]!, entry };
}

/** Undoes GNU tar's c quoting style: a C string literal. */
function unquote(quoted: string): string {
  const body = quoted.slice(1, -1);
  const bytes: number[] = [];
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, b: 8, a: 7 };
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\') {
      bytes.push(...Buffer.from(ch, 'utf8'));
      continue;
    }
    const next = body[++i] ?? '\\';
    if (/[0-7]/.test(next)) {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      bytes.push(Number.parseInt(oct, 8));
      i += oct.length - 1;
    } else {
      bytes.push(simple[next] ?? next.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function permBits(perms: string): number {
  let mode = 0;
  const bit = (i: number, value: number) => {
    if (perms[i] !== '-' && perms[i] !== 'S' && perms[i] !== 'T') mode |= value;
  };
  for (const [i, v] of [0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 0o4, 0o2, 0o1].entries()) bit(i, v);
  if (perms[2] === 's' || perms[2] === 'S') mode |= 0o4000;
  if (perms[5] === 's' || perms[5] === 'S') mode |= 0o2000;
  if (perms[8] === 't' || perms[8] === 'T') mode |= 0o1000;
  return mode;
}

/** `./etc//a/` and `etc/a` are both `/etc/a`; the root is `/`. */
export function normalizeTarPath(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return `/${parts.join('/')}`;
}

function dropTree(map: Map<string, TarEntry>, path: string, keepSelf: boolean): void {
  const prefix = path === '/' ? '/' : `${path}/`;
  for (const key of [...map.keys()]) {
    if (key.startsWith(prefix) || (!keepSelf && key === path)) map.delete(key);
  }
}

/**
 * Stacks the layers' headers as an extractor applies them: whiteouts of a layer hide what the
 * layers below have (never what the same layer adds), and a non-directory replaces a directory
 * together with everything under it.
 */
export function mergeHeaders(layers: TarEntry[][]): Map<string, TarEntry> {
  const merged = new Map<string, TarEntry>();
  for (const layer of layers) {
    for (const entry of layer) {
      const base = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      const dir = entry.path.slice(0, entry.path.lastIndexOf('/')) || '/';
      if (base === '.wh..wh..opq') dropTree(merged, dir, true);
      else if (base.startsWith('.wh.')) {
        dropTree(merged, `${dir === '/' ? '' : dir}/${base.slice(4)}`, false);
      }
    }
    for (const entry of layer) {
      const base = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      if (base.startsWith('.wh.')) continue;
      if (entry.type !== 'dir') dropTree(merged, entry.path, true);
      merged.set(entry.path, entry);
    }
  }
  return merged;
}

/** The bytes of one member of a layer blob, extracted by GNU tar. */
export async function memberContent(blob: string, rawName: string): Promise<Buffer> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-x', '-O', '-f', blob, '--', rawName], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`tar -xO ${rawName}: ${Buffer.concat(err).toString('utf8')}`));
    });
  });
}
