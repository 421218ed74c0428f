import { sha256Digest } from '../image/digest.js';
import { serializeImageConfig, serializeManifest } from '../image/go-json.js';
import { MediaType } from '../image/media-types.js';
import type { Descriptor, ImageConfig, Manifest } from '../image/oci-types.js';
import type { LayerInfo, StageResult } from '../solver/stage-result.js';

/** A finished single-platform image: the bytes of its config and manifest, and its layers. */
export interface AssembledImage {
  config: ImageConfig;
  configBytes: Buffer;
  configDescriptor: Descriptor;
  manifest: Manifest;
  manifestBytes: Buffer;
  manifestDescriptor: Descriptor;
  layers: LayerInfo[];
}

/**
 * Writes the config and the OCI manifest of a solved stage. A single-platform build gets a plain
 * manifest (no index, no attestations), with OCI media types, as the design asks.
 */
export function assembleImage(result: StageResult, labels: Map<string, string>): AssembledImage {
  const config = withLabels(result.config, labels);
  const configBytes = serializeImageConfig(config);
  const configDescriptor: Descriptor = {
    mediaType: MediaType.ociConfig,
    digest: sha256Digest(configBytes),
    size: configBytes.length,
  };

  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDescriptor,
    layers: result.layers.map((l) => ({
      mediaType: ociLayerType(l.descriptor.mediaType),
      digest: l.descriptor.digest,
      size: l.descriptor.size,
    })),
  };
  const manifestBytes = serializeManifest(manifest);
  return {
    config,
    configBytes,
    configDescriptor,
    manifest,
    manifestBytes,
    manifestDescriptor: {
      mediaType: MediaType.ociManifest,
      digest: sha256Digest(manifestBytes),
      size: manifestBytes.length,
    },
    layers: result.layers,
  };
}

/** `--label` flags apply to the exported image on top of the Dockerfile's LABELs. */
function withLabels(config: ImageConfig, labels: Map<string, string>): ImageConfig {
  if (labels.size === 0) return config;
  const merged = { ...(config.config?.Labels ?? {}) };
  for (const [k, v] of labels) merged[k] = v;
  return { ...config, config: { ...config.config, Labels: merged } };
}

/** Docker-typed base layers are written with the OCI type of the same compression. */
function ociLayerType(mediaType: string): string {
  switch (mediaType) {
    case MediaType.dockerLayerGzip:
      return MediaType.ociLayerGzip;
    case MediaType.dockerLayer:
      return MediaType.ociLayer;
    case MediaType.dockerLayerZstd:
      return MediaType.ociLayerZstd;
    default:
      return mediaType;
  }
}
