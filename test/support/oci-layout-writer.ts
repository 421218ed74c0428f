import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './command.js';

// A deliberately small OCI image-layout writer for test fixtures. It shares no code with kiln
// so that the base images tests build on do not depend on the code under test: GNU tar writes
// the layers, pigz compresses them, and the JSON is written here by hand.

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** A subtree of a rootfs whose entries the layer records with this owner instead of root. */
export interface OwnedPath {
  path: string;
  uid: number;
  gid: number;
}

export interface Layer {
  descriptor: Descriptor;
  diffId: string;
}

/** Every entry in fixture layers gets this mtime, so that equal inputs make equal layers. */
export const FIXTURE_EPOCH = 1704067200;
const FIXTURE_CREATED = new Date(FIXTURE_EPOCH * 1000).toISOString();

const GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The OCI platform of this machine, spelled as Go (and so every registry tool) spells it. */
export function hostPlatform(): Platform {
  const architecture = GOARCH[process.arch] ?? process.arch;
  return architecture === 'arm64'
    ? { os: 'linux', architecture, variant: 'v8' }
    : { os: 'linux', architecture };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export function sha256Text(text: string | Buffer): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export function blobPath(layoutDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return join(layoutDir, 'blobs', algorithm!, hex!);
}

export async function initLayout(layoutDir: string): Promise<void> {
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layoutDir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n');
}

export async function writeJsonBlob(
  layoutDir: string,
  value: unknown,
  mediaType: string,
): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = sha256Text(bytes);
  await writeFile(blobPath(layoutDir, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

/**
 * Packs rootfsDir into a gzip layer blob. Entries are sorted, owned by 0:0 unless listed in
 * owners, and carry FIXTURE_EPOCH as mtime; so the same tree always gives the same diff ID.
 * Owners go into separate archives concatenated onto the first, which works without root.
 */
export async function writeLayerBlob(
  layoutDir: string,
  rootfsDir: string,
  owners: readonly OwnedPath[] = [],
): Promise<Layer> {
  const scratch = join(layoutDir, `layer-${randomBytes(6).toString('hex')}`);
  const tarPath = `${scratch}.tar`;
  const common = [
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '--sort=name',
    `--mtime=@${FIXTURE_EPOCH}`,
    '--numeric-owner',
    '-C',
    rootfsDir,
  ];

  const excludes = owners.flatMap((o) => ['--anchored', `--exclude=${o.path}`]);
  await runCommand('tar', [
    '--create',
    `--file=${tarPath}`,
    '--owner=0',
    '--group=0',
    ...excludes,
    ...common,
    ...(await readdir(rootfsDir)).sort(),
  ]);
  for (const [i, owned] of owners.entries()) {
    const part = `${scratch}.${i}.tar`;
    const ids = [`--owner=${owned.uid}`, `--group=${owned.gid}`];
    await runCommand('tar', ['--create', `--file=${part}`, ...ids, ...common, owned.path]);
    await runCommand('tar', ['--concatenate', `--file=${tarPath}`, part]);
    await rm(part);
  }

  const diffId = await sha256File(tarPath);
  const gzPath = `${scratch}.tar.gz`;
  await gzip(tarPath, gzPath);
  await rm(tarPath);
  const digest = await sha256File(gzPath);
  const { size } = await stat(gzPath);
  await rename(gzPath, blobPath(layoutDir, digest));
  return { descriptor: { mediaType: MEDIA_TYPES.layerGzip, digest, size }, diffId };
}

/** pigz -n leaves the name and mtime out of the gzip header, so the bytes depend on data only. */
async function gzip(src: string, dest: string): Promise<void> {
  const out = await open(dest, 'w');
  try {
    const child = spawn('pigz', ['-n', '-6', '-c', src], { stdio: ['ignore', out.fd, 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) throw new Error(`pigz ${src} failed (${code}): ${stderr.trim()}`);
  } finally {
    await out.close();
  }
}

export interface ImageSpec {
  platform: Platform;
  layers: readonly Layer[];
  /** The `config` object of the image config: Env, Cmd, User, WorkingDir... */
  config: Record<string, unknown>;
  /** One history entry per layer says how the fixture was made. */
  createdBy: string;
}

/** Writes the config and manifest blobs of one image and returns the manifest descriptor. */
export async function writeImage(layoutDir: string, spec: ImageSpec): Promise<Descriptor> {
  const imageConfig = {
    created: FIXTURE_CREATED,
    architecture: spec.platform.architecture,
    os: spec.platform.os,
    ...(spec.platform.variant ? { variant: spec.platform.variant } : {}),
    config: spec.config,
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.layers.map((_, i) => ({
      created: FIXTURE_CREATED,
      created_by: `${spec.createdBy} (layer ${i + 1})`,
    })),
  };
  const config = await writeJsonBlob(layoutDir, imageConfig, MEDIA_TYPES.config);

  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config,
    layers: spec.layers.map((l) => l.descriptor),
  };
  const descriptor = await writeJsonBlob(layoutDir, manifest, MEDIA_TYPES.manifest);
  return { ...descriptor, platform: spec.platform };
}

/** Writes an image index blob over the given platform manifests. */
export async function writeIndexBlob(
  layoutDir: string,
  manifests: readonly Descriptor[],
): Promise<Descriptor> {
  const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests };
  return writeJsonBlob(layoutDir, index, MEDIA_TYPES.index);
}

/** Writes the layout's index.json naming one descriptor by tag. */
export async function writeLayoutIndex(
  layoutDir: string,
  descriptor: Descriptor,
  tag: string,
): Promise<void> {
  const { platform: _platform, ...plain } = descriptor;
  const entry = { ...plain, annotations: { [REF_NAME_ANNOTATION]: tag } };
  const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [entry] };
  await writeFile(join(layoutDir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
}
