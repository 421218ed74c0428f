/**
 * Checks an image against a case's spec.json (see ../shared/cases/README.md) and returns every
 * mismatch as a sentence, so one run shows all that is wrong. Keys the checker does not know are
 * mismatches too: a spec must never pass because part of it was ignored.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { type CaseImage, memberContent, normalizeTarPath, type TarEntry } from './case-image.js';
import type { RootfsEntry } from './oci-tools.js';

type OneOrMany<T> = T | T[];

export interface FileSpec {
  type?: OneOrMany<string>;
  mode?: OneOrMany<string>;
  uid?: OneOrMany<number>;
  gid?: OneOrMany<number>;
  uname?: OneOrMany<string>;
  gname?: OneOrMany<string>;
  content?: OneOrMany<string>;
  sha256?: OneOrMany<string>;
  size?: OneOrMany<number>;
  link?: OneOrMany<string>;
  mtime?: OneOrMany<number | string>;
}

export interface LayerCheck {
  layer: number;
  files?: Record<string, FileSpec>;
  absent?: string[];
  whiteouts?: string[];
}

export interface BuildSpec {
  args?: Record<string, string>;
  expect?: 'fail' | 'success';
  fail_match?: string[];
}

export interface CaseSpec {
  build?: BuildSpec;
  comment?: unknown;
  files?: Record<string, FileSpec>;
  absent?: string[];
  dirs?: Record<string, string[]>;
  hardlinks?: string[][];
  layer_checks?: LayerCheck[];
  config?: Record<string, unknown>;
  image?: Record<string, unknown>;
  layers?: number;
}

const SPEC_KEYS = new Set(
  Object.keys({
    build: 0,
    comment: 0,
    files: 0,
    absent: 0,
    dirs: 0,
    hardlinks: 0,
    layer_checks: 0,
    config: 0,
    image: 0,
    layers: 0,
  } satisfies Record<keyof CaseSpec, 0>),
);
const FILE_KEYS = new Set(
  Object.keys({
    type: 0,
    mode: 0,
    uid: 0,
    gid: 0,
    uname: 0,
    gname: 0,
    content: 0,
    sha256: 0,
    size: 0,
    link: 0,
    mtime: 0,
  } satisfies Record<keyof FileSpec, 0>),
);
const LAYER_CHECK_KEYS = new Set(['layer', 'files', 'absent', 'whiteouts']);
const BUILD_KEYS = new Set(['args', 'expect', 'fail_match']);

/** Keys of a spec that the checker would not look at. */
export function unknownSpecKeys(spec: CaseSpec): string[] {
  const bad: string[] = [];
  const check = (obj: object | undefined, allowed: Set<string>, where: string) => {
    for (const key of Object.keys(obj ?? {})) if (!allowed.has(key)) bad.push(`${where}${key}`);
  };
  check(spec, SPEC_KEYS, '');
  check(spec.build, BUILD_KEYS, 'build.');
  for (const [path, f] of Object.entries(spec.files ?? {})) check(f, FILE_KEYS, `files[${path}].`);
  for (const lc of spec.layer_checks ?? []) {
    check(lc, LAYER_CHECK_KEYS, `layer_checks[${lc.layer}].`);
    for (const [path, f] of Object.entries(lc.files ?? {})) {
      check(f, FILE_KEYS, `layer_checks[${lc.layer}].files[${path}].`);
    }
  }
  return bad;
}

/** What one path looks like, in the terms of a FileSpec. */
interface Observed {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  size: number;
  sha256?: string;
  link?: string;
  mtime?: number;
  /** Read only when a mismatch needs showing or the spec asks for it. */
  content: () => Promise<Buffer | undefined>;
}

const anyOf = <T>(v: OneOrMany<T>): T[] => (Array.isArray(v) ? v : [v]);
const octal = (mode: number) => mode.toString(8).padStart(4, '0');
const sha256Hex = (s: string) => s.replace(/^sha256:/, '').toLowerCase();
const show = (v: unknown) => JSON.stringify(v);

function mtimeSeconds(v: number | string): number {
  return typeof v === 'number' ? Math.floor(v) : Math.floor(Date.parse(v) / 1000);
}

async function compareFile(where: string, spec: FileSpec, got: Observed): Promise<string[]> {
  const out: string[] = [];
  const scalar = <T>(key: string, want: OneOrMany<T> | undefined, have: T | undefined) => {
    if (want === undefined) return;
    if (!anyOf(want).some((w) => isDeepStrictEqual(w, have))) {
      out.push(`${where}: ${key} is ${show(have)}, expected ${show(want)}`);
    }
  };
  scalar('type', spec.type, got.type);
  if (spec.mode !== undefined && !anyOf(spec.mode).includes(octal(got.mode))) {
    out.push(`${where}: mode is ${octal(got.mode)}, expected ${show(spec.mode)}`);
  }
  scalar('uid', spec.uid, got.uid);
  scalar('gid', spec.gid, got.gid);
  scalar('uname', spec.uname, got.uname);
  scalar('gname', spec.gname, got.gname);
  scalar('size', spec.size, got.size);
  scalar('link', spec.link, got.link);
  if (spec.mtime !== undefined) scalar('mtime', anyOf(spec.mtime).map(mtimeSeconds), got.mtime);
  if (spec.sha256 !== undefined) {
    scalar('sha256', anyOf(spec.sha256).map(sha256Hex), got.sha256 && sha256Hex(got.sha256));
  }
  if (spec.content !== undefined) {
    const bytes = await got.content();
    const text = bytes?.toString('utf8');
    if (text === undefined || !anyOf(spec.content).includes(text)) {
      out.push(`${where}: content is ${show(text)}, expected ${show(spec.content)}`);
    }
  }
  return out;
}

function lastEntry(layer: TarEntry[], path: string): TarEntry | undefined {
  for (let i = layer.length - 1; i >= 0; i--) if (layer[i]!.path === path) return layer[i];
  return undefined;
}

/** The regular entry a hard-link entry names: in its own layer, else in the nearest below. */
function hardlinkTarget(image: CaseImage, entry: TarEntry): [TarEntry, string] | undefined {
  const target = normalizeTarPath(entry.link ?? '');
  const own = image.layers.findIndex((l) => l.includes(entry));
  for (let i = own; i >= 0; i--) {
    const found = image.layers[i]!.find((e) => e.path === target && e.type === 'file');
    if (found) return [found, image.layerBlobs[i]!];
  }
  return undefined;
}

function layerOf(image: CaseImage, entry: TarEntry): string {
  return image.layerBlobs[image.layers.findIndex((l) => l.includes(entry))]!;
}

function observeMerged(image: CaseImage, fs: RootfsEntry, header?: TarEntry): Observed {
  const isHardlink = header?.type === 'hardlink';
  const observed: Observed = {
    type: isHardlink ? 'hardlink' : fs.type,
    mode: fs.mode,
    uid: fs.uid,
    gid: fs.gid,
    uname: header?.uname,
    gname: header?.gname,
    size: fs.size,
    sha256: fs.sha256,
    link: isHardlink ? header.link : fs.link,
    mtime: header?.mtime,
    content: async () => {
      if (fs.type !== 'file' || !header) return undefined;
      if (!isHardlink) return memberContent(layerOf(image, header), header.rawName);
      const target = hardlinkTarget(image, header);
      return target && memberContent(target[1], target[0].rawName);
    },
  };
  return observed;
}

function observeRaw(image: CaseImage, blob: string, entry: TarEntry): Observed {
  return {
    ...entry,
    sha256: undefined,
    content: async () => {
      if (entry.type === 'file') return memberContent(blob, entry.rawName);
      if (entry.type !== 'hardlink') return undefined;
      const target = hardlinkTarget(image, entry);
      return target && memberContent(target[1], target[0].rawName);
    },
  };
}

async function withRawSha(spec: FileSpec, got: Observed): Promise<Observed> {
  if (spec.sha256 === undefined) return got;
  const bytes = await got.content();
  const sha256 = bytes && createHash('sha256').update(bytes).digest('hex');
  return { ...got, sha256 };
}

async function checkMergedFiles(image: CaseImage, spec: CaseSpec): Promise<string[]> {
  const out: string[] = [];
  for (const [path, fileSpec] of Object.entries(spec.files ?? {})) {
    const fs = image.rootfs.get(path);
    if (!fs) {
      out.push(`${path}: missing from the merged rootfs`);
      continue;
    }
    const header = image.headers.get(path);
    if (!header) out.push(`${path}: no layer has an entry for it (umoci made it up)`);
    out.push(...(await compareFile(path, fileSpec, observeMerged(image, fs, header))));
  }
  for (const path of spec.absent ?? []) {
    if (image.rootfs.has(path)) out.push(`${path}: exists in the merged rootfs, expected absent`);
  }
  for (const [dir, names] of Object.entries(spec.dirs ?? {})) {
    const prefix = dir === '/' ? '/' : `${dir}/`;
    const children = [...image.rootfs.keys()]
      .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
      .map((p) => p.slice(prefix.length))
      .sort();
    if (!isDeepStrictEqual(children, [...names].sort())) {
      out.push(`${dir}: children are ${show(children)}, expected ${show([...names].sort())}`);
    }
  }
  return out;
}

function checkHardlinkGroup(image: CaseImage, group: string[]): string[] {
  const name = `hard-link group ${show(group)}`;
  let top = image.layers.length - 1;
  while (top >= 0 && !image.layers[top]!.some((e) => group.includes(e.path))) top--;
  const layer = image.layers[top];
  if (!layer) return [`${name}: no layer has any of its paths`];
  const entries = group.map((p) => lastEntry(layer, p));
  const out: string[] = [];
  group.forEach((p, i) => {
    if (!entries[i]) out.push(`${name}: ${p} is not in layer ${top}, which has the others`);
  });
  if (out.length > 0) return out;
  const regular = entries.filter((e) => e?.type === 'file');
  if (regular.length !== 1) out.push(`${name}: ${regular.length} regular entries, expected 1`);
  for (const e of entries as TarEntry[]) {
    if (e.type === 'file') continue;
    if (e.type !== 'hardlink') {
      out.push(`${name}: ${e.path} is a ${e.type} entry, expected a hard link`);
      continue;
    }
    const link = e.link ?? '';
    if (link.startsWith('/')) out.push(`${name}: ${e.path} links to absolute ${show(link)}`);
    const target = layer.find((t) => t.path === normalizeTarPath(link) && t.index < e.index);
    if (!target || !group.includes(target.path)) {
      out.push(`${name}: ${e.path} links to ${show(link)}, not a member written before it`);
    }
  }
  const inodes = new Set(group.map((p) => image.rootfs.get(p)?.ino));
  if (inodes.size !== 1 || inodes.has(undefined)) {
    out.push(`${name}: umoci unpacked them as ${inodes.size} inodes`);
  }
  return out;
}

async function checkLayer(image: CaseImage, lc: LayerCheck): Promise<string[]> {
  const n = lc.layer < 0 ? image.layers.length + lc.layer : lc.layer;
  const where = `layer ${lc.layer} (${n})`;
  const layer = image.layers[n];
  const blob = image.layerBlobs[n];
  if (!layer || !blob) return [`${where}: the image has ${image.layers.length} layers`];
  const out: string[] = [];
  for (const [path, fileSpec] of Object.entries(lc.files ?? {})) {
    const entry = lastEntry(layer, path);
    if (!entry) {
      out.push(`${where} ${path}: no such entry`);
      continue;
    }
    const got = await withRawSha(fileSpec, observeRaw(image, blob, entry));
    out.push(...(await compareFile(`${where} ${path}`, fileSpec, got)));
  }
  for (const path of lc.absent ?? []) {
    if (lastEntry(layer, path)) out.push(`${where} ${path}: has an entry, expected none`);
  }
  if (lc.whiteouts) {
    const whiteouts = layer
      .filter((e) => e.path.slice(e.path.lastIndexOf('/') + 1).startsWith('.wh.'))
      .map((e) => e.path)
      .sort();
    if (!isDeepStrictEqual(whiteouts, [...lc.whiteouts].sort())) {
      out.push(`${where}: whiteouts are ${show(whiteouts)}, expected ${show(lc.whiteouts)}`);
    }
  }
  return out;
}

function checkConfig(image: CaseImage, spec: CaseSpec): string[] {
  const out: string[] = [];
  const config = (image.config.config ?? {}) as Record<string, unknown>;
  const env = (config.Env ?? []) as string[];
  for (const [key, want] of Object.entries(spec.config ?? {})) {
    if (key === 'EnvContains') {
      for (const v of want as string[]) if (!env.includes(v)) out.push(`Env lacks ${show(v)}`);
    } else if (key === 'EnvLacksPrefix') {
      for (const p of want as string[]) {
        const hit = env.find((e) => e.startsWith(p));
        if (hit !== undefined) out.push(`Env has ${show(hit)}, expected nothing starting ${p}`);
      }
    } else if (!isDeepStrictEqual(config[key], want)) {
      out.push(`config.${key} is ${show(config[key])}, expected ${show(want)}`);
    }
  }
  for (const [key, want] of Object.entries(spec.image ?? {})) {
    if (!isDeepStrictEqual(image.config[key], want)) {
      out.push(`image config ${key} is ${show(image.config[key])}, expected ${show(want)}`);
    }
  }
  if (spec.layers !== undefined && image.layers.length !== spec.layers) {
    out.push(`the image has ${image.layers.length} layers, expected ${spec.layers}`);
  }
  return out;
}

/** Every way the image differs from the spec; empty when it matches. */
export async function checkImage(image: CaseImage, spec: CaseSpec): Promise<string[]> {
  const out = unknownSpecKeys(spec).map((k) => `spec key ${k} is not known to the checker`);
  out.push(...(await checkMergedFiles(image, spec)));
  for (const group of spec.hardlinks ?? []) out.push(...checkHardlinkGroup(image, group));
  for (const lc of spec.layer_checks ?? []) out.push(...(await checkLayer(image, lc)));
  out.push(...checkConfig(image, spec));
  return out;
}
