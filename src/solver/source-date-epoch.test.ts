import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../errors.js';
import type { BuildRequest, OutputSpec } from './build-request.js';
import { clampCreated, formatEpoch, sourceDateEpochOf } from './source-date-epoch.js';

function request(
  buildArgs: Record<string, string>,
  outputs: OutputSpec[] = [],
  rewriteTimestamp = false,
): BuildRequest {
  return {
    buildArgs: new Map(Object.entries(buildArgs)),
    outputs,
    rewriteTimestamp,
  } as BuildRequest;
}

describe('sourceDateEpochOf', () => {
  const noWarn = (m: string) => assert.fail(m);

  it('prefers the build arg over the environment', () => {
    const epoch = sourceDateEpochOf(
      request({ SOURCE_DATE_EPOCH: '1700000000' }),
      { SOURCE_DATE_EPOCH: '5' },
      noWarn,
    );
    assert.deepEqual(epoch, {
      seconds: 1700000000,
      iso: '2023-11-14T22:13:20Z',
      rewriteTimestamp: false,
    });
  });

  it('takes the environment when no build arg is set, and nothing when neither is', () => {
    assert.equal(sourceDateEpochOf(request({}), { SOURCE_DATE_EPOCH: '0' }, noWarn)?.seconds, 0);
    assert.equal(sourceDateEpochOf(request({}), {}, noWarn), undefined);
    assert.equal(sourceDateEpochOf(request({ SOURCE_DATE_EPOCH: '' }), {}, noWarn), undefined);
  });

  it('turns on timestamp rewriting for --reproducible or any output asking for it', () => {
    const out: OutputSpec = { type: 'image', names: ['a'], push: true, rewriteTimestamp: true };
    const env = { SOURCE_DATE_EPOCH: '10' };
    assert.equal(sourceDateEpochOf(request({}, [out]), env, noWarn)?.rewriteTimestamp, true);
    assert.equal(sourceDateEpochOf(request({}, [], true), env, noWarn)?.rewriteTimestamp, true);
  });

  it('warns when rewriting is asked for without an epoch', () => {
    const warnings: string[] = [];
    sourceDateEpochOf(request({}, [], true), {}, (m) => warnings.push(m));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /SOURCE_DATE_EPOCH/);
  });

  it('refuses values that are not whole seconds', () => {
    for (const bad of ['-1', '1.5', 'yesterday', '1e9', '99999999999999999']) {
      assert.throws(
        () => sourceDateEpochOf(request({ SOURCE_DATE_EPOCH: bad }), {}, noWarn),
        InputError,
        bad,
      );
    }
  });
});

describe('clampCreated', () => {
  const epoch = { seconds: 1700000000, iso: formatEpoch(1700000000), rewriteTimestamp: false };

  it('replaces later and missing times with the epoch and keeps earlier ones', () => {
    assert.equal(clampCreated('2026-01-01T00:00:00.000Z', epoch), '2023-11-14T22:13:20Z');
    assert.equal(clampCreated(undefined, epoch), '2023-11-14T22:13:20Z');
    assert.equal(clampCreated('2020-05-01T10:00:00Z', epoch), '2020-05-01T10:00:00Z');
  });
});
