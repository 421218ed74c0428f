import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goJsonStringify, serializeImageConfig, serializeManifest } from './go-json.js';
import { MediaType } from './media-types.js';

const D = 'sha256:' + 'a'.repeat(64);

describe('Go-compatible JSON', () => {
  it('escapes <, >, &, U+2028 and U+2029 as Go encoding/json does', () => {
    assert.equal(
      goJsonStringify({ a: '<&>\u2028\u2029' }),
      '{"a":"\\u003c\\u0026\\u003e\\u2028\\u2029"}',
    );
  });

  it('writes manifest members in the OCI struct order and omits empty optional ones', () => {
    const text = serializeManifest({
      annotations: { z: '1', a: '2' },
      layers: [],
      config: { size: 2, digest: D, mediaType: MediaType.ociConfig },
      mediaType: MediaType.ociManifest,
      schemaVersion: 2,
    }).toString();
    assert.equal(
      text,
      `{"schemaVersion":2,"mediaType":"${MediaType.ociManifest}","config":{"mediaType":` +
        `"${MediaType.ociConfig}","digest":"${D}","size":2},"layers":[],` +
        `"annotations":{"a":"2","z":"1"}}`,
    );
  });

  it('writes the image config with sorted maps and always a config member', () => {
    const text = serializeImageConfig({
      rootfs: { type: 'layers', diff_ids: [] },
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
      history: [{ empty_layer: true, created_by: 'ENV A=1' }],
    }).toString();
    assert.equal(
      text,
      '{"architecture":"arm64","os":"linux","variant":"v8","config":{},' +
        '"rootfs":{"type":"layers","diff_ids":[]},' +
        '"history":[{"created_by":"ENV A=1","empty_layer":true}]}',
    );
    const withConfig = serializeImageConfig({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [D] },
      config: {
        Shell: ['/bin/sh', '-c'],
        Cmd: ['sh'],
        Env: ['A=1'],
        User: 'app',
        ExposedPorts: { '80/tcp': {}, '443/tcp': {} },
        ArgsEscaped: false,
      },
    }).toString();
    const expected =
      '"config":{"User":"app","ExposedPorts":{"443/tcp":{},"80/tcp":{}},' +
      '"Env":["A=1"],"Cmd":["sh"],"Shell":["/bin/sh","-c"]}';
    assert.ok(withConfig.includes(expected), withConfig);
  });
});
