/**
 * COPY (and ADD of local files) into a fresh layer directory, with Docker's rules: a directory
 * source copies its contents; a file goes inside a destination that ends in '/' or is an existing
 * directory; a symlink named as a source is followed, links met while walking are kept; hard
 * links within the copied set stay hard links; owners are 0:0 for context files (kept for
 * --from sources) unless --chown; an existing destination directory keeps its mode and owner.
 */

import { type BigIntStats, lstatSync, readdirSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { BuildError, InputError } from '../../errors.js';
import { checkUtf8Names } from '../../image/tar/utf8-names.js';
import { compareNames } from '../snapshot/entry-from-stat.js';
import { LayerStack, pathComponents } from '../snapshot/layer-stack.js';
import { type ModeChange, parseChmod } from './chmod-spec.js';
import { LayerWriter, type Owner } from './layer-writer.js';
import { goMatch, hasWildcard, PatternList } from './path-match.js';

export interface CopySpec {
  /** The build context dir, or the merged root of the --from stage or image. */
  sourceRoot: string;
  /** Source paths relative to sourceRoot (a leading '/' is allowed), with Go wildcards. */
  sources: string[];
  /** Absolute destination inside the image; a trailing '/' means a directory. */
  dest: string;
  /** The fresh layer dir to write into (overlay format, above destStack). */
  targetDir: string;
  /** The destination image's layers, to see what exists there. */
  destStack: LayerStack;
  /** True for --from sources: without --chown they keep their owners. */
  fromStage?: boolean;
  chown?: Owner;
  chmod?: string;
  /**
   * --parents: each source keeps its parent directories (from the source root, or from a `/./`
   * pivot written in the source) under the destination, which is then always a directory.
   */
  parents?: boolean;
  /** --exclude patterns, relative to each copied source. */
  exclude?: string[];
  /** The context's .dockerignore matcher (paths relative to sourceRoot); true = excluded. */
  ignore?: (relPath: string) => boolean;
  /**
   * Heredoc sources (`COPY <<EOF /dest`), already written as files named after their heredoc in
   * this directory. They are sources like the others, owned by root unless --chown.
   */
  inline?: { dir: string; names: string[] };
  /**
   * ADD: called for each regular file named as a source (not heredocs or downloads); a directory
   * it returns holds the file's extracted archive, whose tree goes into the destination
   * directory instead of the file (owners from the archive unless --chown).
   */
  unpack?: (hostPath: string) => Promise<string | undefined>;
}

interface SourceMatch {
  /** Name the copy gets inside a destination directory (the name as written, link or not). */
  name: string;
  /** Path relative to sourceRoot as written, for the ignore matcher. */
  rel: string;
  hostPath: string;
  stat: BigIntStats;
  /** Heredoc files are made by kiln: whoever wrote them, they belong to root. */
  inline?: boolean;
  /** --parents: the parent directories kept under the destination, relative to sourceRoot. */
  parents?: string[];
}

/** Where a COPY reads from, for messages. */
function copySourceName(spec: CopySpec): string {
  return spec.fromStage === true ? 'COPY --from source' : 'build context';
}

function sourceNotFound(source: string): BuildError {
  return new BuildError('COPY_SOURCE_NOT_FOUND', `"${source}": not found`, {
    hint: 'check the path and that .dockerignore does not exclude it',
    subject: source,
  });
}

/**
 * The source's components, cleaned as BuildKit joins a source to '/': '..' above the root stays
 * at the root (`../x` is `x`).
 */
function sourceParts(source: string): string[] {
  const parts: string[] = [];
  for (const part of pathComponents(source)) {
    if (part !== '..') parts.push(part);
    else parts.pop();
  }
  return parts;
}

/**
 * With --parents, how many leading components of the source are dropped: those before a `/./`
 * pivot (`src/./app/*.json` keeps `app/`), none without one.
 */
function pivotDepth(source: string): number {
  const at = source.indexOf('/./');
  return at === -1 ? 0 : sourceParts(source.slice(0, at)).length;
}

async function expandSource(
  spec: CopySpec,
  root: LayerStack,
  source: string,
): Promise<SourceMatch[]> {
  const parts = sourceParts(source);
  const pivot = pivotDepth(source);
  let prefixes: string[][] = [[]];

  for (const part of parts) {
    const next: string[][] = [];
    for (const prefix of prefixes) {
      if (!hasWildcard(part)) {
        next.push([...prefix, part.replaceAll('\\', '')]);
        continue;
      }
      const dir = await root.stat(`/${prefix.join('/')}`);
      if (dir === undefined || !dir.stat.isDirectory()) continue;
      for (const name of (await readdir(dir.hostPath)).sort(compareNames)) {
        if (!goMatch(part, name)) continue;
        checkUtf8Names(dir.hostPath, [name], prefix.join('/'), copySourceName(spec));
        next.push([...prefix, name]);
      }
    }
    prefixes = next;
  }

  const matches: SourceMatch[] = [];
  for (const prefix of prefixes) {
    const rel = prefix.join('/');
    if (rel !== '' && spec.ignore?.(rel) === true) continue;
    const hit = await root.stat(`/${rel}`);
    if (hit === undefined) continue;
    const match: SourceMatch = {
      name: prefix.at(-1) ?? '',
      rel,
      hostPath: hit.hostPath,
      stat: hit.stat,
    };
    if (spec.parents === true) {
      const kept = prefix.slice(0, -1);
      match.parents = kept.slice(pivot).map((_, i) => kept.slice(0, pivot + i + 1).join('/'));
    }
    matches.push(match);
  }
  if (matches.length === 0 && !parts.some(hasWildcard)) throw sourceNotFound(source);
  return matches;
}

async function inlineMatches(inline: CopySpec['inline']): Promise<SourceMatch[]> {
  const matches: SourceMatch[] = [];
  for (const name of inline?.names ?? []) {
    const hostPath = path.join(inline!.dir, name);
    const stat = await lstat(hostPath, { bigint: true });
    matches.push({ name, rel: name, hostPath, stat, inline: true });
  }
  return matches;
}

export async function copyFiles(spec: CopySpec): Promise<void> {
  const sourceCount = spec.sources.length + (spec.inline?.names.length ?? 0);
  if (sourceCount === 0) throw new InputError('COPY_NO_SOURCE', 'COPY needs a source');
  if (!spec.dest.startsWith('/')) {
    throw new InputError('COPY_RELATIVE_DEST', `destination must be absolute here: ${spec.dest}`);
  }
  if (sourceCount > 1 && !spec.dest.endsWith('/')) {
    throw new InputError(
      'COPY_DEST_NOT_DIR',
      'When using COPY with more than one source file, the destination must be a directory and end with a /',
    );
  }

  const root = new LayerStack([spec.sourceRoot], spec.destStack.xattrPrefix);
  const matches: SourceMatch[] = [];
  for (const source of spec.sources) matches.push(...(await expandSource(spec, root, source)));
  matches.push(...(await inlineMatches(spec.inline)));

  const writer = new LayerWriter(spec.targetDir, spec.destStack, spec.chown);
  const ownerOf = (st: BigIntStats): Owner =>
    spec.chown ??
    (spec.fromStage === true ? { uid: Number(st.uid), gid: Number(st.gid) } : { uid: 0, gid: 0 });
  const modeChange: ModeChange | undefined =
    spec.chmod === undefined ? undefined : parseChmod(spec.chmod);
  const modeOf = (st: BigIntStats): number => {
    const mode = Number(st.mode & 0o7777n);
    return modeChange === undefined || st.isSymbolicLink()
      ? mode
      : modeChange(mode, st.isDirectory());
  };

  // Docker's context transfer delivers a device node as an empty regular file (BuildKit 0.8 in
  // Docker 20.10, measured); a device of a stage or image is copied as a device.
  const fromContext = spec.fromStage !== true;
  const destRaw = await spec.destStack.resolve(spec.dest);
  const destHit = await spec.destStack.lstat(destRaw);
  const destIsDir =
    spec.dest.endsWith('/') ||
    matches.length > 1 ||
    destHit?.stat.isDirectory() === true ||
    spec.parents === true;

  for (const match of matches) {
    const exclude = new PatternList(spec.exclude ?? []);
    const unpacked =
      spec.unpack && match.inline !== true && match.stat.isFile()
        ? await spec.unpack(match.hostPath)
        : undefined;
    if (unpacked !== undefined) {
      await copyUnpacked(writer, unpacked, destRaw, spec);
      continue;
    }
    if (match.parents !== undefined) {
      await copyWithParents(writer, root, { ...match, parents: match.parents }, destRaw, {
        spec,
        exclude,
        ownerOf,
        modeOf,
        devicesAsFiles: fromContext,
      });
      continue;
    }
    if (match.stat.isDirectory()) {
      // A destination directory that COPY creates for a directory's contents is made as BuildKit
      // makes it: 0755 (or --chmod), owned by --chown or root, whatever the source directory's
      // own owner and mode (they matter only for directories inside it).
      await writer.ensureDir(destRaw, {
        stat: match.stat,
        owner: spec.chown ?? { uid: 0, gid: 0 },
        mode: spec.chmod === undefined ? 0o755 : modeOf(match.stat),
      });
      await copyTree(writer, match.hostPath, match.rel, destRaw, '', {
        // .dockerignore speaks of context paths, not of trees kiln fetched (git sources).
        spec: match.inline === true ? { ...spec, ignore: undefined } : spec,
        exclude,
        ownerOf,
        modeOf,
        devicesAsFiles: fromContext && match.inline !== true,
      });
      continue;
    }
    const target = destIsDir ? path.posix.join(destRaw, match.name) : destRaw;
    await writer.ensureParents(target);
    const owner = match.inline === true ? (spec.chown ?? { uid: 0, gid: 0 }) : ownerOf(match.stat);
    const mode = modeOf(match.stat);
    await writer.writeNode(match.hostPath, target, match.stat, owner, mode, fromContext);
  }
  await writer.finish();
}

/**
 * --parents: the match goes below its parent directories in the destination. Those directories
 * and a directory source itself are copied like directories met inside a tree (their own modes
 * and times; owner root for context sources), as BuildKit copies them: it selects the source with
 * an include pattern from the root (or pivot) down, so the parents are entries of the copy.
 */
async function copyWithParents(
  writer: LayerWriter,
  root: LayerStack,
  match: SourceMatch & { parents: string[] },
  destRaw: string,
  ctx: TreeContext,
): Promise<void> {
  const metaOf = (st: BigIntStats) => ({ stat: st, owner: ctx.ownerOf(st), mode: ctx.modeOf(st) });
  let dest = destRaw;
  await writer.ensureParents(path.posix.join(destRaw, 'entry'));
  for (const parent of match.parents) {
    const hit = await root.stat(`/${parent}`);
    if (hit === undefined) throw sourceNotFound(parent);
    dest = path.posix.join(dest, path.posix.basename(parent));
    await writer.ensureDir(dest, metaOf(hit.stat), true);
  }
  const target = path.posix.join(dest, match.name);
  if (match.stat.isDirectory()) {
    await writer.ensureDir(target, metaOf(match.stat), true);
    await copyTree(writer, match.hostPath, match.rel, target, '', ctx);
    return;
  }
  const mode = ctx.modeOf(match.stat);
  await writer.writeNode(
    match.hostPath,
    target,
    match.stat,
    ctx.ownerOf(match.stat),
    mode,
    ctx.devicesAsFiles,
  );
}

/**
 * An extracted archive goes into the destination as a directory (made 0755 when missing, as
 * BuildKit's unpack does), entries with the archive's owners and modes: neither the context's
 * .dockerignore nor --exclude nor --chmod reaches inside it; --chown does.
 */
async function copyUnpacked(
  writer: LayerWriter,
  dir: string,
  destRaw: string,
  spec: CopySpec,
): Promise<void> {
  await writer.ensureParents(path.posix.join(destRaw, 'entry'));
  await copyTree(writer, dir, '', destRaw, '', {
    spec: { ...spec, ignore: undefined },
    exclude: new PatternList([]),
    ownerOf: (st) => spec.chown ?? { uid: Number(st.uid), gid: Number(st.gid) },
    modeOf: (st) => Number(st.mode & 0o7777n),
    devicesAsFiles: false,
  });
}

interface TreeContext {
  spec: CopySpec;
  exclude: PatternList;
  ownerOf: (st: BigIntStats) => Owner;
  modeOf: (st: BigIntStats) => number;
  /** Context sources: a device node becomes an empty file, as Docker delivers it. */
  devicesAsFiles: boolean;
}

/** Copies the children of `hostDir` into the container dir `destDir`, links kept as links. */
async function copyTree(
  writer: LayerWriter,
  hostDir: string,
  relDir: string,
  destDir: string,
  relToSource: string,
  ctx: TreeContext,
): Promise<void> {
  // Synchronous calls: a tree of many small files is walked faster without the thread pool.
  for (const name of readdirSync(hostDir).sort(compareNames)) {
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    const below = relToSource === '' ? name : `${relToSource}/${name}`;
    const hostPath = path.join(hostDir, name);
    const ignored = ctx.spec.ignore?.(rel) === true || ctx.exclude.matches(below);
    // An excluded directory is still walked when exception patterns could re-include its files;
    // it is then created only if something under it is.
    if (ignored && !ctx.exclude.hasExceptions) continue;
    checkUtf8Names(hostDir, [name], relDir, copySourceName(ctx.spec));
    const st = lstatSync(hostPath, { bigint: true });
    if (ignored && !st.isDirectory()) continue;

    const target = path.posix.join(destDir, name);
    if (st.isDirectory()) {
      const meta = { stat: st, owner: ctx.ownerOf(st), mode: ctx.modeOf(st) };
      if (ignored) {
        writer.deferDir(target, meta);
      } else {
        await writer.ensureDir(target, meta, true);
      }
      await copyTree(writer, hostPath, rel, target, below, ctx);
      continue;
    }
    const mode = ctx.modeOf(st);
    await writer.writeNode(hostPath, target, st, ctx.ownerOf(st), mode, ctx.devicesAsFiles);
  }
}
