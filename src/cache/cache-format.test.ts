import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../errors.js';
import {
  buildCacheArtifact,
  CACHE_ARTIFACT_TYPE,
  CACHE_CONFIG_MEDIA_TYPE,
  cacheConfigDescriptor,
  importedRecord,
  parseCacheConfig,
  selectRecords,
} from './cache-format.js';
import type { StepRecord } from './step-record.js';

const k = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function record(key: number, parent: number, layer?: number): StepRecord {
  return {
    key: k(key),
    parent: k(parent),
    created: '2026-01-01T00:00:00Z',
    ...(layer === undefined
      ? {}
      : {
          layer: {
            diffId: k(1000 + layer),
            digest: k(2000 + layer),
            size: layer,
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            snapshotId: `step-${layer}`,
          },
        }),
  };
}

// Stage 0: 1 -> 2; stage 1 on base 100: 3 -> 4 (COPY --from stage 0) -> 5.
const used = [record(1, 100, 1), record(2, 1, 2), record(3, 100, 3), record(4, 3, 1), record(5, 4)];

describe('selectRecords', () => {
  it('keeps only the chain below the result with mode=min', () => {
    assert.deepEqual(
      selectRecords(used, 'min', k(5)).map((r) => r.key),
      [k(3), k(4), k(5)],
    );
  });

  it('keeps every record with mode=max', () => {
    assert.equal(selectRecords(used, 'max', k(5)).length, 5);
  });

  it('stops at a parent cycle instead of looping', () => {
    const cyclic = [record(1, 2), record(2, 1)];
    assert.ok(selectRecords(cyclic, 'min', k(1)).length <= 3);
  });
});

describe('buildCacheArtifact', () => {
  it('lists each layer blob once and records without snapshot ids', () => {
    const artifact = buildCacheArtifact(used);
    const manifest = JSON.parse(artifact.manifest.bytes.toString());
    assert.equal(manifest.artifactType, CACHE_ARTIFACT_TYPE);
    assert.equal(manifest.config.mediaType, CACHE_CONFIG_MEDIA_TYPE);
    assert.deepEqual(
      manifest.layers.map((l: { digest: string }) => l.digest),
      [k(2001), k(2002), k(2003)],
    );
    assert.doesNotMatch(artifact.config.bytes.toString(), /snapshotId/);
  });

  it('round-trips through parseCacheConfig and importedRecord', () => {
    const artifact = buildCacheArtifact(used);
    const config = cacheConfigDescriptor(artifact.manifest.bytes, 'test');
    assert.equal(config.digest, artifact.config.descriptor.digest);
    const parsed = parseCacheConfig(artifact.config.bytes, 'test');
    const back = parsed.map((r) => importedRecord(r, '127.0.0.1:5000/cache'));
    assert.equal(back.length, 5);
    assert.equal(back[0]?.layer?.snapshotId, '', 'imported layers have no local snapshot');
    assert.equal(back[0]?.layer?.sourceRepository, '127.0.0.1:5000/cache');
    assert.equal(back[4]?.layer, undefined);
    assert.equal(back[1]?.parent, k(1));
  });
});

describe('parseCacheConfig', () => {
  it('drops records that do not have the documented shape', () => {
    const bytes = Buffer.from(
      JSON.stringify({
        version: 1,
        records: [
          { key: k(1), created: 'x' },
          { key: 'nope', created: 'x' },
          {
            key: k(2),
            created: 'x',
            layer: { diffId: k(3), digest: 'bad', size: 1, mediaType: 'm' },
          },
        ],
      }),
    );
    assert.deepEqual(
      parseCacheConfig(bytes, 'test').map((r) => r.key),
      [k(1)],
    );
  });

  it('refuses an image manifest that is not a kiln cache export', () => {
    const image = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json' },
      }),
    );
    assert.throws(
      () => cacheConfigDescriptor(image, 'reg/app:v1'),
      (err: unknown) => {
        assert.ok(err instanceof KilnError);
        assert.equal(err.code, 'CACHE_IMPORT_INVALID');
        return true;
      },
    );
  });

  it('refuses an unknown config version', () => {
    assert.throws(
      () => parseCacheConfig(Buffer.from('{"version":2,"records":[]}'), 't'),
      /version 2/,
    );
  });
});
