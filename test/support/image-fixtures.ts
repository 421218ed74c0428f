/** Small blobs and manifests for registry tests, built in memory. */
import * as crypto from 'node:crypto';
import { Readable } from 'node:stream';

export interface TestBlob {
  bytes: Buffer;
  digest: string;
  size: number;
  open: () => Readable;
}

export function blobOf(content: Buffer | string): TestBlob {
  const bytes = Buffer.from(content);
  const digest = `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
  return { bytes, digest, size: bytes.length, open: () => Readable.from([bytes]) };
}

export function randomBlob(size: number): TestBlob {
  return blobOf(crypto.randomBytes(size));
}

export function ociManifest(config: TestBlob, layers: TestBlob[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.size,
      })),
    }),
  );
}

export function configFor(os: string, architecture: string, variant?: string): TestBlob {
  return blobOf(
    JSON.stringify({
      os,
      architecture,
      ...(variant ? { variant } : {}),
      rootfs: { type: 'layers', diff_ids: [] },
      config: {},
    }),
  );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
