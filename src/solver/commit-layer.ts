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
 * BuildKit drops empty layers from the image.
 */
export async function commitLayer(
  entries: LayerEntry[],
  pending: PendingSnapshot,
  ctx: StepContext,
): Promise<StepOutput> {
  if (entries.length === 0) {
    await pending.discard();
    return undefined;
  }
  const layerEntries =
    ctx.layerEpoch === undefined ? entries : clampMtimes(entries, ctx.layerEpoch);
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
  const epochNs = BigInt(epochSeconds) * 1_000_000_000n;
  return entries.map((e) =>
    e.entry.mtimeNs > epochNs ? { ...e, entry: { ...e.entry, mtimeNs: epochNs } } : e,
  );
}

/** Snapshot ids are the step key's hex: one snapshot per distinct step. */
export function snapshotIdFor(key: string): string {
  return `step-${digestHex(key)}`;
}
