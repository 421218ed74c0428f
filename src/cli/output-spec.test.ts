import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../errors.js';
import { parseOutputSpec } from './output-spec.js';

describe('parseOutputSpec', () => {
  it('reads compression, compression-level and force-compression on an oci output', () => {
    const spec = parseOutputSpec(
      'type=oci,dest=out.tar,compression=zstd,compression-level=12,force-compression=true',
      [],
      '/w',
    );
    assert.deepEqual(spec, {
      type: 'oci',
      dest: '/w/out.tar',
      tar: true,
      names: [],
      compression: { compression: 'zstd', level: 12, force: true },
    });
  });

  it('spells no compression as buildx does: compression=uncompressed', () => {
    const spec = parseOutputSpec('type=docker,dest=d.tar,compression=uncompressed', [], '/w');
    assert.deepEqual(spec, {
      type: 'docker',
      dest: '/w/d.tar',
      names: [],
      compression: { compression: 'none', force: false },
    });
  });

  it('applies a level given without compression= to gzip', () => {
    const spec = parseOutputSpec('type=registry,name=r/a,compression-level=9', [], '/w');
    assert.deepEqual(spec, {
      type: 'image',
      names: ['r/a'],
      push: true,
      compression: { compression: 'gzip', level: 9, force: false },
    });
  });

  it('reads rewrite-timestamp on image outputs and leaves it out when not given', () => {
    const spec = parseOutputSpec('type=image,name=r/a,rewrite-timestamp=true', [], '/w');
    assert.deepEqual(spec, { type: 'image', names: ['r/a'], push: false, rewriteTimestamp: true });
    assert.deepEqual(parseOutputSpec('type=oci,dest=o', [], '/w'), {
      type: 'oci',
      dest: '/w/o',
      tar: true,
      names: [],
    });
  });

  it('refuses an unknown compression, a level out of range and options on local outputs', () => {
    const bad = [
      'type=oci,dest=o,compression=estargz',
      'type=oci,dest=o,compression=gzip,compression-level=10',
      'type=oci,dest=o,compression=zstd,compression-level=0',
      'type=oci,dest=o,compression-level=fast',
      'type=oci,dest=o,force-compression=maybe',
      'type=local,dest=o,compression=gzip',
      'type=tar,dest=o,rewrite-timestamp=true',
    ];
    for (const text of bad) {
      assert.throws(() => parseOutputSpec(text, [], '/w'), InputError, text);
    }
  });
});
