/**
 * Single-file image archives: an OCI archive (a tar of an OCI layout, what `type=oci,dest=F.tar`
 * writes) and a docker archive (the `docker save` format, what `type=docker` writes and
 * `docker load` reads). Entries are written in a fixed order with fixed metadata, so the same
 * image gives the same archive bytes.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { writeBlob } from './blob-writer.js';
import { decompress } from './compress.js';
import { digestHex } from './digest.js';
import { ImageError } from './errors.js';
import { goJsonStringify, serializeIndex } from './go-json.js';
import { MediaType } from './media-types.js';
import { OCI_LAYOUT_CONTENT } from './oci-layout.js';
import { type Descriptor, REF_NAME_ANNOTATION } from './oci-types.js';
import type { LayerEntry, TarEntry } from './tar/entry.js';
import { writeTar } from './tar/tar-writer.js';

/** One image, with its blobs already serialized or on disk. */
export interface ImageBlobs {
  /** The manifest descriptor (mediaType, digest, size) and its exact bytes. */
  manifest: { descriptor: Descriptor; data: Buffer };
  config: { descriptor: Descriptor; data: Buffer };
  /** Layer blobs in manifest order; `path` is the stored (possibly compressed) blob file. */
  layers: Array<{ descriptor: Descriptor; path: string; diffId: string }>;
}

export interface ArchiveOptions {
  /** mtime of every archive entry; default 0 (the epoch), for reproducible archives. */
  mtimeNs?: bigint;
}

function meta(path: string, type: 'dir' | 'file', size: number, mtimeNs: bigint): TarEntry {
  return { path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size, mtimeNs };
}

function bufferEntry(path: string, data: Buffer, mtimeNs: bigint): LayerEntry {
  return { entry: meta(path, 'file', data.length, mtimeNs), source: { kind: 'buffer', data } };
}

async function fileEntry(path: string, source: string, mtimeNs: bigint): Promise<LayerEntry> {
  const { size } = await stat(source);
  return { entry: meta(path, 'file', size, mtimeNs), source: { kind: 'file', path: source } };
}

function dirEntry(path: string, mtimeNs: bigint): LayerEntry {
  return { entry: meta(path, 'dir', 0, mtimeNs), source: { kind: 'none' } };
}

/** Writes an OCI layout as a tar: the image listed once per ref name (none: listed unnamed). */
export async function writeOciArchive(
  image: ImageBlobs,
  refNames: string[],
  out: Writable,
  options: ArchiveOptions = {},
): Promise<{ size: number }> {
  const t = options.mtimeNs ?? 0n;
  const manifests =
    refNames.length === 0
      ? [image.manifest.descriptor]
      : refNames.map((name) => ({
          ...image.manifest.descriptor,
          annotations: { ...image.manifest.descriptor.annotations, [REF_NAME_ANNOTATION]: name },
        }));
  const index = serializeIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests });

  const entries: LayerEntry[] = [
    bufferEntry('oci-layout', OCI_LAYOUT_CONTENT, t),
    bufferEntry('index.json', index, t),
    dirEntry('blobs', t),
    dirEntry('blobs/sha256', t),
  ];
  const seen = new Set<string>();
  const blob = (digest: string) => {
    if (seen.has(digest)) return false;
    seen.add(digest);
    return true;
  };
  const { manifest, config } = image;
  if (blob(manifest.descriptor.digest)) {
    entries.push(bufferEntry(blobName(manifest.descriptor.digest), manifest.data, t));
  }
  if (blob(config.descriptor.digest)) {
    entries.push(bufferEntry(blobName(config.descriptor.digest), config.data, t));
  }
  for (const layer of image.layers) {
    if (!blob(layer.descriptor.digest)) continue;
    entries.push(await fileEntry(blobName(layer.descriptor.digest), layer.path, t));
  }
  return writeTar(entries, out);
}

function blobName(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/**
 * Writes the `docker save` format: manifest.json listing the config and the layers, each layer
 * stored uncompressed under its diff ID (as Docker 25 stores them), which both `docker load`
 * and `skopeo ... docker-archive:` accept. Compressed layer blobs are decompressed into a temp
 * directory first, because a tar header needs the size before the content.
 */
export async function writeDockerArchive(
  image: ImageBlobs,
  repoTags: string[],
  out: Writable,
  options: ArchiveOptions & { tempDir?: string } = {},
): Promise<{ size: number }> {
  const t = options.mtimeNs ?? 0n;
  const scratch = await mkdtemp(join(options.tempDir ?? tmpdir(), 'kiln-docker-archive-'));
  try {
    const configName = blobName(image.config.descriptor.digest);
    const layerFiles: Array<{ name: string; path: string }> = [];
    for (const layer of image.layers) {
      layerFiles.push({
        name: blobName(layer.diffId),
        path: await uncompressedLayer(layer, join(scratch, 'blobs')),
      });
    }
    const manifest = [
      { Config: configName, RepoTags: repoTags, Layers: layerFiles.map((layer) => layer.name) },
    ];

    const entries: LayerEntry[] = [dirEntry('blobs', t), dirEntry('blobs/sha256', t)];
    entries.push(bufferEntry(configName, image.config.data, t));
    const seen = new Set<string>([configName]);
    for (const layer of layerFiles) {
      if (seen.has(layer.name)) continue;
      seen.add(layer.name);
      entries.push(await fileEntry(layer.name, layer.path, t));
    }
    entries.push(bufferEntry('manifest.json', Buffer.from(goJsonStringify(manifest)), t));
    return await writeTar(entries, out);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function uncompressedLayer(
  layer: ImageBlobs['layers'][number],
  scratchBlobs: string,
): Promise<string> {
  if (layer.descriptor.digest === layer.diffId) return layer.path;
  const { digest } = await writeBlob(
    scratchBlobs,
    decompress(createReadStream(layer.path, { highWaterMark: 1024 * 1024 })),
  );
  if (digest !== layer.diffId) {
    throw new ImageError(
      'IMAGE_DIGEST_MISMATCH',
      `layer ${layer.descriptor.digest} uncompresses to ${digest}, but its diff ID is ${layer.diffId}`,
    );
  }
  return join(scratchBlobs, 'sha256', digestHex(digest));
}
