import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../errors.js';
import { MediaType } from './media-types.js';
import type { Index } from './oci-types.js';
import {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformEquals,
  selectManifest,
} from './platform.js';

function desc(digestChar: string, architecture: string, variant?: string, os = 'linux') {
  return {
    mediaType: MediaType.ociManifest,
    digest: 'sha256:' + digestChar.repeat(64),
    size: 1,
    platform: { os, architecture, ...(variant === undefined ? {} : { variant }) },
  };
}

describe('platforms', () => {
  it('normalizes x86_64 to amd64 and aarch64 and arm64/v8 to plain arm64, as containerd', () => {
    assert.deepEqual(normalizePlatform({ os: 'Linux', architecture: 'x86_64' }), {
      os: 'linux',
      architecture: 'amd64',
    });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'aarch64' }), {
      os: 'linux',
      architecture: 'arm64',
    });
    assert.equal(formatPlatform(parsePlatform('linux/arm64/v8')), 'linux/arm64');
    assert.equal(formatPlatform(parsePlatform('linux/arm64/8')), 'linux/arm64');
    assert.ok(platformEquals(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v8')));
    assert.equal(formatPlatform({ os: 'linux', architecture: 'armhf' }), 'linux/arm/v7');
  });

  it('says that several platforms in one run are not supported', () => {
    assert.throws(() => parsePlatform('linux/amd64,linux/arm64'), { code: 'PLATFORM_MULTIPLE' });
  });

  it('rejects a malformed platform with an input error', () => {
    assert.throws(() => parsePlatform('linux//'), InputError);
    assert.throws(() => parsePlatform('a/b/c/d'), InputError);
  });

  it('detects the host platform from process.arch', () => {
    const host = hostPlatform();
    assert.equal(host.os, process.platform);
    const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386' };
    assert.equal(host.architecture, expected[process.arch] ?? process.arch);
    if (process.arch === 'arm64') assert.equal(host.variant, undefined);
  });

  it('selects the exact platform from an index, else a compatible lower arm variant', () => {
    const index: Index = {
      schemaVersion: 2,
      manifests: [
        desc('1', 'amd64'),
        desc('2', 'arm', 'v6'),
        desc('3', 'arm64', 'v8'),
        desc('4', 'unknown', undefined, 'unknown'),
        desc('5', 'arm', 'v5'),
      ],
    };
    assert.equal(selectManifest(index, parsePlatform('linux/amd64'))?.digest.slice(7, 8), '1');
    assert.equal(selectManifest(index, parsePlatform('linux/aarch64'))?.digest.slice(7, 8), '3');
    assert.equal(selectManifest(index, parsePlatform('linux/arm/v7'))?.digest.slice(7, 8), '2');
    assert.equal(selectManifest(index, parsePlatform('linux/s390x')), undefined);
    assert.equal(selectManifest(index, parsePlatform('linux/arm/v5'))?.digest.slice(7, 8), '5');
  });
});
