import * as path from 'node:path';
import { digestHex } from '../image/digest.js';
import { writeLayerBlob } from '../image/layer-blob.js';
import type { LayerEntry } from '../image/tar/entry.js';
import type { PendingSnapshot } from '../worker/snapshot/snapshot-store.js';
import type { StepOutput } from './solver.js';
import type { StepContext } from './step-context.js';

/**
 * Turns a step's changes into a layer: the entries become a compressed blob in the cache and the
 * snapshot dir is committed for later steps. A step that changed nothing makes no layer, as
 * BuildKit drops empty layers from the image. Entries may still be arriving from a walk of the
 * snapshot (walkUpperDir), so that the tar and its compressor start before the walk ends.
 */
export async function commitLayer(
  entries: LayerEntry[] | AsyncIterable<LayerEntry>,
  pending: PendingSnapshot,
  ctx: StepContext,
): Promise<StepOutput> {
  const layer = await unlessEmpty(entries);
  if (layer === undefined) {
    await pending.discard();
    return undefined;
  }
  const epoch = ctx.layerEpoch;
  const layerEntries = epoch === undefined ? layer : clampEach(layer, epoch);
  const blob = await writeLayerBlob(layerEntries, path.dirname(ctx.blobs.root), {
    compression: ctx.compression,
    ...(ctx.pigzThreads > 0 ? { pigzThreads: ctx.pigzThreads } : {}),
  });
  const snapshot = await pending.commit();
  return {
    diffId: blob.diffId,
    digest: blob.digest,
    size: blob.size,
    mediaType: blob.mediaType,
    snapshotId: snapshot.id,
  };
}

/**
 * rewrite-timestamp: entries newer than the epoch get the epoch, older ones keep their time, as
 * BuildKit clamps. Only the headers change, so the layer is still written in one pass; the
 * snapshot on disk keeps the real times, which later steps see.
 */
export function clampMtimes(entries: LayerEntry[], epochSeconds: number): LayerEntry[] {
  return entries.map((e) => clampMtime(e, epochSeconds));
}

function clampMtime(e: LayerEntry, epochSeconds: number): LayerEntry {
  const epochNs = BigInt(epochSeconds) * 1_000_000_000n;
  return e.entry.mtimeNs > epochNs ? { ...e, entry: { ...e.entry, mtimeNs: epochNs } } : e;
}

async function* clampEach(
  entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>,
  epochSeconds: number,
): AsyncGenerator<LayerEntry> {
  for await (const e of entries) yield clampMtime(e, epochSeconds);
}

/** The same entries, or undefined when there are none (the first is awaited to know). */
async function unlessEmpty(
  entries: LayerEntry[] | AsyncIterable<LayerEntry>,
): Promise<LayerEntry[] | AsyncIterable<LayerEntry> | undefined> {
  if (Array.isArray(entries)) return entries.length === 0 ? undefined : entries;
  const iterator = entries[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return undefined;
  return (async function* () {
    yield first.value;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      yield next.value;
    }
  })();
}

/** Snapshot ids are the step key's hex: one snapshot per distinct step. */
export function snapshotIdFor(key: string): string {
  return `step-${digestHex(key)}`;
}
