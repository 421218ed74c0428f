import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../cache/atomic-file.js';
import { BuildError } from '../errors.js';
import { serializeIndex } from '../image/go-json.js';
import type { ImageBlobs } from '../image/image-archive.js';
import { MediaType } from '../image/media-types.js';
import { OCI_LAYOUT_FILE, OciLayout } from '../image/oci-layout.js';
import { type Descriptor, type Index, REF_NAME_ANNOTATION } from '../image/oci-types.js';
import { acquireLock } from '../worker/mounts/file-lock.js';
import { stageDirOutput } from './dir-output.js';
import type { ExportContext } from './export-context.js';
import type { Placed } from './output-staging.js';
import { removeMade } from './place-path.js';
import { outputError } from './write-destination.js';

/**
 * Kiln processes writing one layout directory take this lock around their change to it, so an
 * index.json update never loses another build's entry. Tools other than kiln do not know it.
 */
const LOCK_FILE = 'index.json.lock';

/** What one build added to a layout directory, so that it can be taken back. */
interface LayoutChange {
  madeDest: boolean;
  madeFiles: string[];
  madeDirs: string[];
  addedBlobs: string[];
  indexBefore?: Buffer;
  indexAfter?: Buffer;
}

/**
 * `type=oci,tar=false`: the image's blobs are staged in a temp layout (inside DIR when it exists,
 * else beside it; blobs DIR has already are not copied again). Putting it in place takes the
 * layout's lock, moves in the blobs DIR lacks and updates index.json last, atomically, so readers
 * never see an entry whose blobs are missing. Taking it back removes exactly what was added.
 */
export async function stageOciLayout(
  blobs: ImageBlobs,
  descriptor: Descriptor,
  refNames: string[],
  dest: string,
  ctx: ExportContext,
): Promise<void> {
  const { existed, tmp, made, discard } = await stageDirOutput(dest);
  const reused: string[] = [];
  try {
    const staged = await OciLayout.open(tmp).catch((err: unknown) => {
      throw outputError(dest, err);
    });
    for (const layer of blobs.layers) {
      const there = path.join(dest, 'blobs', ...layer.descriptor.digest.split(':'));
      if (existed && (await exists(there))) reused.push(there);
      else await staged.putBlobFile(layer.path, layer.descriptor.digest, { verified: true });
    }
    await staged.putBlob(blobs.config.data);
    await staged.putBlob(blobs.manifest.data);
  } catch (err) {
    await discard();
    throw err;
  }

  ctx.staging.stage({
    dest,
    place: async () => {
      let madeDest = false;
      const change = await withLayoutLock(dest, ctx.signal, (made) => {
        madeDest = made;
        return addToLayout(dest, made, tmp, reused, descriptor, refNames);
      }).catch(async (err: unknown) => {
        // addToLayout took its change back; a directory made for it goes too.
        if (madeDest) await fsp.rmdir(dest).catch(() => {});
        throw err;
      });
      await fsp.rm(tmp, { recursive: true, force: true });
      return {
        undo: async () => {
          // Not abortable: an interrupted build must still take its entries back.
          await withLayoutLock(dest, undefined, () => takeBack(dest, change, descriptor, refNames));
          if (change.madeDest) await fsp.rmdir(dest).catch(() => {});
          await removeMade(made);
        },
        keep: async () => {},
      } satisfies Placed;
    },
    discard,
  });
}

/** Runs `fn` on the directory `dir` (made when missing) while holding the layout's lock. */
async function withLayoutLock<T>(
  dir: string,
  signal: AbortSignal | undefined,
  fn: (madeDest: boolean) => Promise<T>,
): Promise<T> {
  const madeDest = await fsp.mkdir(dir).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw outputError(dir, err);
      return false;
    },
  );
  const lock = await acquireLock(path.join(dir, LOCK_FILE), signal);
  try {
    return await fn(madeDest);
  } finally {
    await lock.release();
  }
}

/** Opens the layout at `dir`, noting in `change` what opening it had to make. */
async function openNoting(dir: string, change: LayoutChange): Promise<OciLayout> {
  for (const sub of [['blobs'], ['blobs', 'sha256']]) {
    const at = path.join(dir, ...sub);
    if (!(await exists(at))) change.madeDirs.push(at);
  }
  const marker = path.join(dir, OCI_LAYOUT_FILE);
  if (!(await exists(marker))) change.madeFiles.push(marker);
  return OciLayout.open(dir);
}

async function addToLayout(
  dir: string,
  madeDest: boolean,
  tmp: string,
  reused: string[],
  descriptor: Descriptor,
  refNames: string[],
): Promise<LayoutChange> {
  const change: LayoutChange = { madeDest, madeFiles: [], madeDirs: [], addedBlobs: [] };
  const indexFile = path.join(dir, 'index.json');
  change.indexBefore = await fsp.readFile(indexFile).catch(() => undefined);
  try {
    const layout = await openNoting(dir, change);
    const from = path.join(tmp, 'blobs', 'sha256');
    const into = path.join(layout.blobsDir, 'sha256');
    for (const name of await fsp.readdir(from)) {
      const target = path.join(into, name);
      if (await exists(target)) continue;
      await fsp.rename(path.join(from, name), target);
      change.addedBlobs.push(target);
    }
    const gone = [];
    for (const blob of reused) if (!(await exists(blob))) gone.push(blob);
    if (gone.length > 0) {
      throw new BuildError(
        'OUTPUT_LAYOUT_CHANGED',
        `blobs of the layout ${layout.dir} were removed during the build: ${gone.join(', ')}`,
        { hint: 'build again' },
      );
    }
    await layout.addManifest(descriptor, refNames);
    change.indexAfter = await fsp.readFile(indexFile);
    return change;
  } catch (err) {
    await takeBack(dir, change, descriptor, refNames);
    throw err;
  }
}

/**
 * Takes a change back. When index.json is still what this build wrote, nobody has used the layout
 * since, and it is restored exactly. Otherwise another build has added its image meanwhile and
 * may share the blobs this one added: only this build's entries are taken out of index.json (the
 * ones they replaced come back), and the blobs stay, unreferenced.
 */
async function takeBack(
  dir: string,
  change: LayoutChange,
  descriptor: Descriptor,
  refNames: string[],
): Promise<void> {
  const indexFile = path.join(dir, 'index.json');
  const now = await fsp.readFile(indexFile).catch(() => undefined);
  if (change.indexAfter !== undefined && !now?.equals(change.indexAfter)) {
    const index = withoutEntries(change, descriptor, refNames, now);
    await writeFileAtomic(indexFile, serializeIndex(index));
    return;
  }
  if (change.indexBefore) await writeFileAtomic(indexFile, change.indexBefore);
  for (const blob of change.addedBlobs) await fsp.rm(blob, { force: true });
  for (const file of change.madeFiles) await fsp.rm(file, { force: true });
  if (!change.indexBefore) await fsp.rm(indexFile, { force: true });
  for (const dir of [...change.madeDirs].reverse()) await fsp.rmdir(dir).catch(() => {});
}

function withoutEntries(
  change: LayoutChange,
  descriptor: Descriptor,
  refNames: string[],
  now: Buffer | undefined,
): Index {
  const current = parseIndex(now);
  const before = parseIndex(change.indexBefore);
  const names = new Set(refNames);
  const nameOf = (d: Descriptor): string | undefined => d.annotations?.[REF_NAME_ANNOTATION];
  const ours = (d: Descriptor): boolean => {
    const name = nameOf(d);
    return (
      d.digest === descriptor.digest && (name === undefined ? names.size === 0 : names.has(name))
    );
  };
  const kept = current.manifests.filter((d) => !ours(d));
  const taken = new Set(kept.map(nameOf));
  const restored = before.manifests.filter((d) => {
    const name = nameOf(d);
    return name !== undefined && names.has(name) && !taken.has(name);
  });
  return { ...current, manifests: [...kept, ...restored] };
}

function parseIndex(data: Buffer | undefined): Index {
  const empty: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  if (!data) return empty;
  try {
    const index = JSON.parse(data.toString('utf8')) as Index;
    return Array.isArray(index.manifests) ? index : empty;
  } catch {
    return empty;
  }
}

async function exists(file: string): Promise<boolean> {
  return fsp.access(file).then(
    () => true,
    () => false,
  );
}
