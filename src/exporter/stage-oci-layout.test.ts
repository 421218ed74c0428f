import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageBlobs } from '../image/image-archive.js';
import { MediaType } from '../image/media-types.js';
import { type Descriptor, REF_NAME_ANNOTATION } from '../image/oci-types.js';
import type { ExportContext } from './export-context.js';
import type { OutputStaging, Placed, StagedOutput } from './output-staging.js';
import { stageOciLayout } from './stage-oci-layout.js';

function descriptorOf(data: Buffer, mediaType: string): Descriptor {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  return { mediaType, digest, size: data.length };
}

/** A small image whose layer is a file in `dir`; `name` makes its blobs its own. */
async function image(dir: string, name: string): Promise<ImageBlobs> {
  const layerData = Buffer.from(`layer of ${name}`);
  const layer = descriptorOf(layerData, MediaType.ociLayer);
  const layerPath = path.join(dir, `${name}.layer`);
  await fsp.writeFile(layerPath, layerData);
  const configData = Buffer.from(JSON.stringify({ name }));
  const config = descriptorOf(configData, MediaType.ociConfig);
  const manifestData = Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [layer] }));
  return {
    manifest: { descriptor: descriptorOf(manifestData, MediaType.ociManifest), data: manifestData },
    config: { descriptor: config, data: configData },
    layers: [{ descriptor: layer, path: layerPath, diffId: layer.digest }],
  };
}

/** Stages an image into `layout` and hands back its staged output, not yet placed. */
async function stage(layout: string, blobs: ImageBlobs, tag: string): Promise<StagedOutput> {
  const staged: StagedOutput[] = [];
  const staging = { stage: (o: StagedOutput) => staged.push(o) } as unknown as OutputStaging;
  const ctx = { staging, signal: new AbortController().signal } as unknown as ExportContext;
  await stageOciLayout(blobs, blobs.manifest.descriptor, [tag], layout, ctx);
  assert.equal(staged.length, 1);
  return staged[0] as StagedOutput;
}

async function listing(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isFile()) out[path.relative(dir, file)] = await fsp.readFile(file, 'utf8');
  }
  return out;
}

async function refNames(layout: string): Promise<string[]> {
  const index = JSON.parse(await fsp.readFile(path.join(layout, 'index.json'), 'utf8'));
  return index.manifests.map((d: Descriptor) => d.annotations?.[REF_NAME_ANNOTATION]).sort();
}

describe('stageOciLayout', () => {
  let dir: string;

  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kiln-stage-layout-'));
  });
  after(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('changes no blob and no index.json until placed, and takes it back byte for byte', async () => {
    const layout = path.join(dir, 'exact');
    const first = await (await stage(layout, await image(dir, 'a'), 'a')).place();
    await first.keep();
    const before = await listing(layout);

    const staged = await stage(layout, await image(dir, 'b'), 'b');
    // The staged blobs wait in a hidden directory inside the layout, which readers ignore.
    const visible = Object.entries(await listing(layout)).filter(([f]) => !f.startsWith('.'));
    assert.deepEqual(Object.fromEntries(visible), before);
    const placed = await staged.place();
    assert.deepEqual(await refNames(layout), ['a', 'b']);
    await placed.undo();
    assert.deepEqual(await listing(layout), before);
  });

  it('removes a layout directory it made when taken back', async () => {
    const layout = path.join(dir, 'made', 'deeper', 'layout');
    const placed = await (await stage(layout, await image(dir, 'c'), 'c')).place();
    assert.deepEqual(await refNames(layout), ['c']);
    await placed.undo();
    await assert.rejects(fsp.stat(path.join(dir, 'made')), 'no directory kiln made is left');
  });

  it('takes only its own entry back when another build added an image meanwhile', async () => {
    const layout = path.join(dir, 'shared');
    await (await (await stage(layout, await image(dir, 'd'), 'd')).place()).keep();
    const mine: Placed = await (await stage(layout, await image(dir, 'e'), 'e')).place();
    const other = await image(dir, 'f');
    await (await (await stage(layout, other, 'f')).place()).keep();

    await mine.undo();
    assert.deepEqual(await refNames(layout), ['d', 'f']);
    for (const blob of [other.manifest, other.config]) {
      const file = path.join(layout, 'blobs', ...blob.descriptor.digest.split(':'));
      await fsp.access(file);
    }
  });
});
