import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../errors.js';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches } from './platform.js';
import { pickPlatform } from './resolve-image.js';

test('parses os/arch/variant and fills the default arm variants', () => {
  assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' });
  assert.equal(formatPlatform(parsePlatform('linux/arm')), 'linux/arm/v7');
  assert.equal(formatPlatform(parsePlatform('linux/x86_64')), 'linux/amd64');
  assert.equal(formatPlatform(parsePlatform('linux/aarch64')), 'linux/arm64');
});

test('reads a bare OS as that OS on the host architecture, and rejects empty parts', () => {
  assert.equal(parsePlatform('linux').architecture, hostPlatform().architecture);
  assert.equal(parsePlatform('arm64').os, 'linux');
  assert.throws(() => parsePlatform('linux//v7'), InputError);
});

test('matches on os and architecture, and on variant when both sides name one', () => {
  const arm64 = { os: 'linux', architecture: 'arm64' };
  assert.equal(platformMatches(arm64, { os: 'linux', architecture: 'arm64', variant: 'v8' }), true);
  assert.equal(
    platformMatches(
      { os: 'linux', architecture: 'arm', variant: 'v6' },
      {
        os: 'linux',
        architecture: 'arm',
        variant: 'v7',
      },
    ),
    false,
  );
  assert.equal(platformMatches({ os: 'linux', architecture: 'amd64' }, arm64), false);
  assert.equal(
    platformMatches(
      { os: 'windows', architecture: 'amd64' },
      {
        os: 'linux',
        architecture: 'amd64',
      },
    ),
    false,
  );
});

test('picks the matching index entry and never an attestation', () => {
  const entries = [
    {
      mediaType: 'm',
      digest: 'sha256:1',
      size: 1,
      platform: { os: 'unknown', architecture: 'unknown' },
    },
    {
      mediaType: 'm',
      digest: 'sha256:2',
      size: 1,
      platform: { os: 'linux', architecture: 'arm64' },
    },
    {
      mediaType: 'm',
      digest: 'sha256:3',
      size: 1,
      platform: { os: 'linux', architecture: 'amd64' },
    },
  ];
  assert.equal(pickPlatform(entries, { os: 'linux', architecture: 'amd64' })?.digest, 'sha256:3');
  assert.equal(pickPlatform(entries, { os: 'linux', architecture: 's390x' }), undefined);
});
