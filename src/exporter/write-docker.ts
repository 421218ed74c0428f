import { mkdir, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { digestHex } from '../image/digest.js';
import { goJsonStringify } from '../image/go-json.js';
import { type ImageBlobs, writeDockerArchive } from '../image/image-archive.js';
import type { LayerEntry, TarEntry } from '../image/tar/entry.js';
import { writeTar } from '../image/tar/tar-writer.js';
import type { AssembledImage } from './assemble-image.js';
import type { ExportContext } from './export-context.js';
import { imageBlobs } from './image-blobs.js';
import { writeToDestination } from './write-destination.js';

/**
 * `type=docker`: a `docker save` archive. Without `compression=` the layers are stored
 * uncompressed under their diff IDs, as Docker 25 saves them. With one, each layer is stored as
 * its blob in that compression (named by the blob's digest), as BuildKit's docker exporter
 * does; `docker load` and skopeo's docker-archive transport decompress what they find.
 */
export async function writeDocker(
  image: AssembledImage,
  tags: string[],
  spec: { dest: string; compressed: boolean },
  ctx: ExportContext,
): Promise<void> {
  const blobs = await imageBlobs(image, ctx);
  // The scratch dir is made by the first step that runs; a fully cached build has none yet.
  await mkdir(ctx.scratchDir, { recursive: true });
  await writeToDestination(spec.dest, ctx, (out) =>
    spec.compressed
      ? writeCompressedDockerArchive(blobs, tags, out)
      : writeDockerArchive(blobs, tags, out, { tempDir: ctx.scratchDir }),
  );
}

async function writeCompressedDockerArchive(
  image: ImageBlobs,
  repoTags: string[],
  out: Writable,
): Promise<{ size: number }> {
  const configName = blobName(image.config.descriptor.digest);
  const layerNames = image.layers.map((l) => blobName(l.descriptor.digest));
  const manifest = [{ Config: configName, RepoTags: repoTags, Layers: layerNames }];

  const entries: LayerEntry[] = [dirEntry('blobs'), dirEntry('blobs/sha256')];
  entries.push(bufferEntry(configName, image.config.data));
  const seen = new Set<string>([configName]);
  for (const [i, layer] of image.layers.entries()) {
    const name = layerNames[i]!;
    if (seen.has(name)) continue;
    seen.add(name);
    const { size } = await stat(layer.path);
    entries.push({ entry: meta(name, 'file', size), source: { kind: 'file', path: layer.path } });
  }
  entries.push(bufferEntry('manifest.json', Buffer.from(goJsonStringify(manifest))));
  return writeTar(entries, out);
}

/** Entries carry fixed metadata (root, mtime 0), so the same image gives the same bytes. */
function meta(path: string, type: 'dir' | 'file', size: number): TarEntry {
  return { path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size, mtimeNs: 0n };
}

function bufferEntry(path: string, data: Buffer): LayerEntry {
  return { entry: meta(path, 'file', data.length), source: { kind: 'buffer', data } };
}

function dirEntry(path: string): LayerEntry {
  return { entry: meta(path, 'dir', 0), source: { kind: 'none' } };
}

function blobName(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}
