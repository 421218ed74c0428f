import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../errors.js';
import { parseExecutorArgs, parseGoDuration } from './executor-args.js';

describe('parseExecutorArgs', () => {
  it('reads --flag=value, --flag value and shorthands as pflag does', () => {
    const args = parseExecutorArgs([
      '--context=dir:///src',
      '--dockerfile',
      'build/Dockerfile',
      '-d',
      'reg/a:1',
      '-dreg/b:2',
      '-d=reg/c:3',
    ]);
    assert.equal(args.strings.get('context'), 'dir:///src');
    assert.equal(args.strings.get('dockerfile'), 'build/Dockerfile');
    assert.deepEqual(args.lists.get('destination'), ['reg/a:1', 'reg/b:2', 'reg/c:3']);
  });

  it('never lets a boolean take the next argument', () => {
    const args = parseExecutorArgs(['--no-push', 'true']);
    assert.equal(args.bools.get('no-push'), true);
    assert.deepEqual(args.operands, ['true']);
  });

  it('reads booleans written as --flag=false and --flag=1', () => {
    const args = parseExecutorArgs(['--cache=false', '--reproducible=1', '--no-push=T']);
    assert.equal(args.bools.get('cache'), false);
    assert.equal(args.bools.get('reproducible'), true);
    assert.equal(args.bools.get('no-push'), true);
  });

  it('rejects an unknown flag with exit code 2', () => {
    assert.throws(
      () => parseExecutorArgs(['--no-such-flag']),
      (err: unknown) =>
        err instanceof InputError &&
        err.exitCode === 2 &&
        /unknown flag: --no-such-flag/.test(err.message),
    );
    assert.throws(() => parseExecutorArgs(['-x']), /unknown flag: 'x' in -x/);
  });

  it('rejects a flag without its value, a bad boolean and a bad duration', () => {
    assert.throws(() => parseExecutorArgs(['--destination']), /needs an argument/);
    assert.throws(() => parseExecutorArgs(['--cache=maybe']), /not a boolean/);
    assert.throws(() => parseExecutorArgs(['--cache-ttl', 'two weeks']), /not a duration/);
    assert.throws(() => parseExecutorArgs(['--push-retry', 'x']), /not an integer/);
  });

  it('stores deprecated spellings under the flag that replaced them', () => {
    const args = parseExecutorArgs(['--tarPath', 'out.tar', '--customPlatform=linux/arm64']);
    assert.equal(args.strings.get('tar-path'), 'out.tar');
    assert.equal(args.strings.get('custom-platform'), 'linux/arm64');
    assert.deepEqual(args.given, ['tarPath', 'customPlatform']);
  });

  it('splits --registry-map entries on semicolons and wants KEY=VALUE', () => {
    const args = parseExecutorArgs(['--registry-map', 'docker.io=m1;quay.io=m2']);
    assert.deepEqual(args.lists.get('registry-map'), ['docker.io=m1', 'quay.io=m2']);
    assert.throws(() => parseExecutorArgs(['--registry-map', 'nokey']), /KEY=VALUE/);
  });

  it('treats everything after -- as operands', () => {
    const args = parseExecutorArgs(['--no-push', '--', '--context']);
    assert.deepEqual(args.operands, ['--context']);
  });
});

describe('parseGoDuration', () => {
  it('reads the units of Go durations', () => {
    assert.equal(parseGoDuration('336h0m0s'), 336 * 3600_000);
    assert.equal(parseGoDuration('1.5h'), 5400_000);
    assert.equal(parseGoDuration('90s'), 90_000);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('10'), undefined);
    assert.equal(parseGoDuration('1d'), undefined);
  });
});
