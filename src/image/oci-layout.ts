/**
 * An OCI image layout directory: `oci-layout`, `blobs/sha256/<hex>` and `index.json`. Images are
 * named in index.json by the org.opencontainers.image.ref.name annotation, one descriptor per
 * name, which is what `skopeo ... oci:DIR:NAME` and `umoci --image DIR:NAME` look up.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, copyFile, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { blobPath, blobTempPath, writeBlob } from './blob-writer.js';
import { sha256Digest, sha256OfFile } from './digest.js';
import { ImageError } from './errors.js';
import { serializeIndex } from './go-json.js';
import { isIndexMediaType, MediaType } from './media-types.js';
import {
  type Descriptor,
  type Index,
  type Manifest,
  type Platform,
  REF_NAME_ANNOTATION,
} from './oci-types.js';
import { selectManifest } from './platform.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const OCI_LAYOUT_CONTENT = Buffer.from('{"imageLayoutVersion":"1.0.0"}');

export class OciLayout {
  readonly blobsDir: string;

  private constructor(readonly dir: string) {
    this.blobsDir = join(dir, 'blobs');
  }

  /** Opens a layout, creating the directory, `oci-layout` and an empty index when missing. */
  static async open(dir: string): Promise<OciLayout> {
    const layout = new OciLayout(dir);
    await makeDirs(join(layout.blobsDir, 'sha256'));
    const marker = join(dir, OCI_LAYOUT_FILE);
    const existing = await readFile(marker, 'utf8').catch(() => undefined);
    if (existing === undefined) await writeFile(marker, OCI_LAYOUT_CONTENT);
    else if (!/"imageLayoutVersion"\s*:\s*"1\.0\.0"/.test(existing)) {
      throw new ImageError('IMAGE_LAYOUT_INVALID', `'${marker}' is not an OCI layout 1.0.0 marker`);
    }
    if (!(await exists(join(dir, 'index.json')))) {
      await layout.writeIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    }
    return layout;
  }

  blobPath(digest: string): string {
    return blobPath(this.blobsDir, digest);
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  /** Stores bytes as a blob (a no-op when it is already there). */
  async putBlob(data: Buffer): Promise<{ digest: string; size: number }> {
    const digest = sha256Digest(data);
    if (await this.hasBlob(digest)) return { digest, size: data.length };
    return writeBlob(this.blobsDir, data);
  }

  /**
   * Adds a blob file. One from kiln's blob store (`verified`: its digest was checked when it was
   * stored) is hard-linked where the layout is on the same filesystem, as the cache and an output
   * beside it usually are, else copied; any other file is copied (reflinked where the filesystem
   * can) and its digest checked. Blobs are never written in place, so sharing the inode is safe.
   */
  async putBlobFile(
    path: string,
    digest: string,
    opts: { verified?: boolean } = {},
  ): Promise<void> {
    if (await this.hasBlob(digest)) return;
    const temp = await blobTempPath(this.blobsDir);
    try {
      if (!(opts.verified && (await linked(path, temp)))) {
        await copyFile(path, temp, constants.COPYFILE_FICLONE);
        const actual = opts.verified ? undefined : await sha256OfFile(temp);
        if (actual !== undefined && actual.digest !== digest) {
          throw new ImageError(
            'IMAGE_DIGEST_MISMATCH',
            `blob '${path}' has digest ${actual.digest}, expected ${digest}`,
          );
        }
      }
      await rename(temp, this.blobPath(digest));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Reads a blob and checks that its bytes match the digest. */
  async readBlob(digest: string): Promise<Buffer> {
    const data = await readFile(this.blobPath(digest)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      throw new ImageError('IMAGE_NOT_FOUND', `blob ${digest} is not in the layout '${this.dir}'`);
    });
    if (sha256Digest(data) !== digest) {
      throw new ImageError('IMAGE_DIGEST_MISMATCH', `blob ${digest} in '${this.dir}' is corrupt`);
    }
    return data;
  }

  async readIndex(): Promise<Index> {
    const text = await readFile(join(this.dir, 'index.json'), 'utf8');
    let index: Index;
    try {
      index = JSON.parse(text) as Index;
    } catch (err) {
      throw new ImageError('IMAGE_LAYOUT_INVALID', `'${this.dir}/index.json' is not JSON`, {
        cause: err,
      });
    }
    if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
      throw new ImageError(
        'IMAGE_LAYOUT_INVALID',
        `'${this.dir}/index.json' is not an image index`,
      );
    }
    return index;
  }

  /** Replaces index.json atomically (a temp file renamed over it). */
  async writeIndex(index: Index): Promise<void> {
    const target = join(this.dir, 'index.json');
    const temp = join(this.dir, `.index.json.${process.pid}.${randomBytes(4).toString('hex')}`);
    await writeFile(temp, serializeIndex(index));
    await rename(temp, target);
  }

  /**
   * Lists a manifest in index.json once per name, replacing any entry that had one of the names.
   * With no names the descriptor is added unnamed (once per digest).
   */
  async addManifest(descriptor: Descriptor, refNames: string[]): Promise<void> {
    const index = await this.readIndex();
    const names = new Set(refNames);
    const kept = index.manifests.filter((entry) => {
      const name = entry.annotations?.[REF_NAME_ANNOTATION];
      if (name !== undefined) return !names.has(name);
      return !(names.size === 0 && entry.digest === descriptor.digest);
    });
    const added =
      refNames.length === 0
        ? [descriptor]
        : refNames.map((name) => ({
            ...descriptor,
            annotations: { ...descriptor.annotations, [REF_NAME_ANNOTATION]: name },
          }));
    await this.writeIndex({ ...index, manifests: [...kept, ...added] });
  }

  /** Reads a manifest or index blob and parses it (the digest is checked by readBlob). */
  async readManifest(descriptor: Descriptor): Promise<Manifest | Index> {
    const data = await this.readBlob(descriptor.digest);
    try {
      return JSON.parse(data.toString('utf8')) as Manifest | Index;
    } catch (err) {
      throw new ImageError('IMAGE_LAYOUT_INVALID', `blob ${descriptor.digest} is not JSON`, {
        cause: err,
      });
    }
  }

  /**
   * The image manifest for a ref name, descending into an index (a multi-platform image) to
   * the best manifest for `platform`.
   */
  async resolveImage(
    refName: string,
    platform: Platform,
  ): Promise<{ descriptor: Descriptor; manifest: Manifest } | undefined> {
    let descriptor = await this.resolve(refName);
    for (let depth = 0; descriptor !== undefined && depth < 4; depth++) {
      const document = await this.readManifest(descriptor);
      if (!isIndexMediaType(document.mediaType ?? descriptor.mediaType)) {
        return { descriptor, manifest: document as Manifest };
      }
      descriptor = selectManifest(document as Index, platform);
    }
    if (descriptor === undefined) return undefined;
    throw new ImageError('IMAGE_LAYOUT_INVALID', `indexes nest too deeply under '${refName}'`);
  }

  /** The descriptor named `refName` in index.json, if any. */
  async resolve(refName: string): Promise<Descriptor | undefined> {
    const index = await this.readIndex();
    return index.manifests.find((entry) => entry.annotations?.[REF_NAME_ANNOTATION] === refName);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Hard-links `from` to `to`; false when the filesystem will not (another device, no links). */
async function linked(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK' || code === 'ENOTSUP')
      return false;
    throw err;
  }
}

/**
 * mkdir -p, one directory at a time: Node's recursive mkdir never returns for some paths (under
 * /proc it loops forever at full CPU), and a layout may be asked for anywhere.
 */
async function makeDirs(dir: string): Promise<void> {
  let at = resolve(dir);
  const missing: string[] = [];
  while (!(await exists(at))) {
    missing.unshift(at);
    if (dirname(at) === at) break;
    at = dirname(at);
  }
  for (const each of missing) {
    await mkdir(each).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}
