import type { BlobStore } from '../cache/blob-store.js';
import { BuildError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { ImageConfig, Manifest, Platform } from '../image/oci-types.js';
import { formatPlatform } from '../image/platform.js';
import {
  formatReference,
  type ImageReference,
  parseReference,
  type RegistryClient,
  repositoryName,
} from '../registry/index.js';

/** A base image as the solver needs it: pinned reference, manifest and config. */
export interface SourceImage {
  reference: ImageReference;
  /** `host/repository`, where the blobs can be fetched (and mounted from when pushing). */
  repository: string;
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: string;
}

/**
 * Resolves base images through the registry client and fetches their blobs into the blob store.
 * Resolutions are memoized per reference and platform, so a base used by several stages (or by
 * the frontend and then the solver) is asked for once.
 */
export class ImageSource {
  private readonly resolved = new Map<string, Promise<SourceImage>>();
  private readonly fetches = new Map<string, Promise<void>>();

  constructor(
    readonly client: RegistryClient,
    private readonly blobs: BlobStore,
    private readonly bus: EventBus,
  ) {}

  resolve(ref: string, platform: Platform): Promise<SourceImage> {
    const key = `${ref}|${formatPlatform(platform)}`;
    let result = this.resolved.get(key);
    if (!result) {
      result = this.doResolve(ref, platform);
      this.resolved.set(key, result);
    }
    return result;
  }

  async resolveConfig(ref: string, platform: Platform): Promise<ImageConfig> {
    return (await this.resolve(ref, platform)).config;
  }

  /** Makes sure a blob of the image is in the blob store (downloading it once per process). */
  fetchBlob(repository: string, digest: string, size?: number): Promise<void> {
    let fetch = this.fetches.get(digest);
    if (!fetch) {
      fetch = (async () => {
        if (await this.blobs.has(digest)) return;
        const tmp = this.blobs.tempPath();
        await this.client.downloadBlob(repository, digest, tmp, size);
        await this.blobs.adopt(tmp, digest);
      })();
      fetch.catch(() => this.fetches.delete(digest));
      this.fetches.set(digest, fetch);
    }
    return fetch;
  }

  private async doResolve(ref: string, platform: Platform): Promise<SourceImage> {
    const reference = parseReference(ref);
    const resolved = await this.client.resolveImage(reference, platform);
    const manifest = JSON.parse(resolved.manifest.bytes.toString('utf8')) as Manifest;
    if (!manifest.config?.digest || !Array.isArray(manifest.layers)) {
      throw new BuildError(
        'IMAGE_MANIFEST_INVALID',
        `${formatReference(reference)}: not an image manifest`,
      );
    }
    const repository = repositoryName(reference);
    const image = {
      reference: resolved.reference,
      repository,
      manifestDigest: resolved.manifest.digest,
      manifest,
      configDigest: manifest.config.digest,
    };
    await this.fetchBlob(repository, manifest.config.digest, manifest.config.size);
    const config = JSON.parse(
      (await this.blobs.readBuffer(manifest.config.digest)).toString('utf8'),
    ) as ImageConfig;
    if (config.rootfs?.diff_ids?.length !== manifest.layers.length) {
      throw new BuildError(
        'IMAGE_CONFIG_INVALID',
        `${formatReference(reference)}: the config lists ${config.rootfs?.diff_ids?.length ?? 0} layers, the manifest ${manifest.layers.length}`,
      );
    }
    void this.bus;
    return { ...image, config };
  }
}
