import * as fs from 'node:fs';
import type { BlobStore } from '../cache/blob-store.js';
import { BuildError } from '../errors.js';
import { decompress } from '../image/compress.js';
import { digestHex } from '../image/digest.js';
import { extractLayer } from '../image/tar/extract-layer.js';
import type { XattrPrefix } from '../worker/snapshot/entry-from-stat.js';
import type { SnapshotStore } from '../worker/snapshot/snapshot-store.js';
import type { LayerInfo } from './stage-result.js';

/**
 * Gives every layer a directory in overlayfs format: a layer made by a step already has one; a
 * pulled layer is extracted once from its blob into `diff-<diffId>`. Extractions are memoized so
 * parallel stages on the same base extract it once.
 */
export class LayerSnapshots {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly blobs: BlobStore,
    private readonly xattrPrefix: XattrPrefix,
    /** Brings a pulled layer's blob into the blob store when it is missing. */
    private readonly fetch: (layer: LayerInfo) => Promise<void>,
    /** What extracting a layer could not keep (owners outside a rootless id range). */
    private readonly onWarning: (message: string) => void = () => {},
  ) {}

  dirOf(layer: LayerInfo): Promise<string> {
    const id = `diff-${digestHex(layer.diffId)}`;
    let dir = this.pending.get(id);
    if (!dir) {
      dir = this.ensure(layer, id);
      dir.catch(() => this.pending.delete(id));
      this.pending.set(id, dir);
    }
    return dir;
  }

  dirsOf(layers: LayerInfo[]): Promise<string[]> {
    return Promise.all(layers.map((l) => this.dirOf(l)));
  }

  private async ensure(layer: LayerInfo, id: string): Promise<string> {
    if (layer.snapshotId) {
      const own = await this.snapshots.get(layer.snapshotId);
      if (own) return own.dir;
    }
    const existing = await this.snapshots.get(id);
    if (existing) return existing.dir;

    await this.fetch(layer);
    const pending = await this.snapshots.create(id);
    try {
      const input = decompress(fs.createReadStream(this.blobs.pathOf(layer.descriptor.digest)));
      const { warnings } = await extractLayer(input, pending.dir, {
        whiteouts: 'overlay',
        overlayXattrPrefix: this.xattrPrefix,
      });
      for (const w of warnings) this.onWarning(`base layer ${layer.diffId.slice(0, 19)}: ${w}`);
      return (await pending.commit()).dir;
    } catch (err) {
      await pending.discard();
      // Another kiln process may have committed the same layer meanwhile.
      const raced = await this.snapshots.get(id);
      if (raced) return raced.dir;
      throw err instanceof BuildError
        ? err
        : new BuildError('LAYER_EXTRACT_FAILED', `cannot extract layer ${layer.diffId}`, {
            cause: err,
          });
    }
  }
}
