/**
 * Helpers for the isolation and ownership tests: a layer described entry by entry with GNU tar
 * as the reader (listing, contents, xattrs), and a comparison of two images' layers that ignores
 * only what legitimately differs between two builds (the mtimes of files a RUN made).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAttribute, listAttributes } from 'fs-xattr';
import { blobFile, listLayer, type TarEntry } from './support/case-image.js';
import { runCommand } from './support/command.js';

export interface LayerEntryFacts extends TarEntry {
  /** `sha256:<hex>` of a regular file's bytes. */
  sha256?: string;
  /** Extended attributes of files and directories, values base64. */
  xattrs?: Record<string, string>;
}

/** The layer blobs of layoutDir:tag, bottom first, read from index.json and the manifest. */
export async function layerBlobs(layoutDir: string, tag = 'latest'): Promise<string[]> {
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8'));
  const named = (index.manifests as { digest: string; annotations?: Record<string, string> }[])
    .filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)
    .map((m) => m.digest);
  if (named.length !== 1) throw new Error(`${layoutDir} has ${named.length} manifests ${tag}`);
  const manifest = JSON.parse(await readFile(blobFile(layoutDir, named[0] as string), 'utf8'));
  return (manifest.layers as { digest: string }[]).map((l) => blobFile(layoutDir, l.digest));
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Every entry of one layer: GNU tar's listing, plus (after GNU tar extracted the layer as root,
 * with xattrs) each file's content digest and each file's and directory's xattrs.
 */
export async function describeLayer(blob: string): Promise<LayerEntryFacts[]> {
  const entries: LayerEntryFacts[] = await listLayer(blob);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-layer-'));
  try {
    const root = join(dir, 'x');
    await mkdir(root);
    await runCommand('tar', [
      '-x',
      '-f',
      blob,
      '-C',
      root,
      '--numeric-owner',
      '--same-owner',
      '--same-permissions',
      '--xattrs',
      '--xattrs-include=*',
    ]);
    for (const entry of entries) {
      const path = join(root, entry.path);
      if (entry.type === 'file' || entry.type === 'hardlink') entry.sha256 = await sha256Of(path);
      const st = await lstat(path);
      if (!st.isFile() && !st.isDirectory()) continue;
      const names = (await listAttributes(path)).sort();
      if (names.length === 0) continue;
      entry.xattrs = {};
      for (const name of names) {
        entry.xattrs[name] = (await getAttribute(path, name)).toString('base64');
      }
    }
    return entries;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every layer of layoutDir:tag from `from` on (0 = the base image's first layer). */
export async function describeImageLayers(
  layoutDir: string,
  tag = 'latest',
  from = 0,
): Promise<LayerEntryFacts[][]> {
  const layers: LayerEntryFacts[][] = [];
  for (const blob of (await layerBlobs(layoutDir, tag)).slice(from)) {
    layers.push(await describeLayer(blob));
  }
  return layers;
}

/** What is compared of an entry; mtimes only when older than `madeAfter` (not made by a step). */
function comparable(e: LayerEntryFacts, madeAfter: number): Record<string, unknown> {
  return {
    path: e.path,
    type: e.type,
    mode: e.mode.toString(8),
    uid: e.uid,
    gid: e.gid,
    uname: e.uname,
    gname: e.gname,
    size: e.size,
    sha256: e.sha256,
    link: e.link,
    xattrs: e.xattrs,
    mtime: e.mtime < madeAfter ? e.mtime : 'made by the build',
  };
}

/**
 * Lists every difference between two images' layers (empty when they agree): a layer count,
 * an entry only one side has, or any compared field of an entry.
 */
export function layerDifferences(
  a: LayerEntryFacts[][],
  b: LayerEntryFacts[][],
  madeAfterSeconds: number,
): string[] {
  const problems: string[] = [];
  if (a.length !== b.length) problems.push(`layer count ${a.length} != ${b.length}`);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const left = (a[i] ?? []).map((e) => comparable(e, madeAfterSeconds));
    const right = (b[i] ?? []).map((e) => comparable(e, madeAfterSeconds));
    const n = Math.max(left.length, right.length);
    for (let j = 0; j < n; j++) {
      const l = JSON.stringify(left[j]);
      const r = JSON.stringify(right[j]);
      if (l !== r) problems.push(`layer ${i} entry ${j}:\n  ${l}\n  ${r}`);
    }
  }
  return problems;
}

/** Writes a Dockerfile and the given context files into a new directory under `parent`. */
export async function writeContext(
  parent: string,
  name: string,
  dockerfile: string,
  files: Record<string, string> = {},
): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
  return dir;
}
