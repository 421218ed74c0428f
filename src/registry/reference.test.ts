import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../errors.js';
import { familiarName, formatReference, parseReference } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  const normalized: [string, string][] = [
    ['ubuntu', 'docker.io/library/ubuntu:latest'],
    ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['library/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['docker.io/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['index.docker.io/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['user/app:v1', 'docker.io/user/app:v1'],
    ['user/team/app', 'docker.io/user/team/app:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
    ['127.0.0.1:5000/a/b:tag', '127.0.0.1:5000/a/b:tag'],
    ['host:5000/a/b:tag', 'host:5000/a/b:tag'],
    ['ghcr.io/o/r', 'ghcr.io/o/r:latest'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    [`ubuntu@${D}`, `docker.io/library/ubuntu@${D}`],
    [`ubuntu:22.04@${D}`, `docker.io/library/ubuntu:22.04@${D}`],
    [`host:5000/a@${D}`, `host:5000/a@${D}`],
    ['ab-c/e__f.g-h', 'docker.io/ab-c/e__f.g-h:latest'],
    ['Registry.Example.COM/app', 'Registry.Example.COM/app:latest'],
  ];
  for (const [input, expected] of normalized) {
    test(`normalizes "${input}" to "${expected}"`, () => {
      assert.equal(formatReference(parseReference(input)), expected);
    });
  }

  test('splits registry, repository, tag and digest', () => {
    assert.deepEqual(parseReference(`host:5000/a/b:t@${D}`), {
      registry: 'host:5000',
      repository: 'a/b',
      tag: 't',
      digest: D,
    });
  });

  test('leaves the tag out when asked not to default it', () => {
    assert.deepEqual(parseReference('busybox', { defaultTag: false }), {
      registry: 'docker.io',
      repository: 'library/busybox',
    });
  });

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['Ubuntu', /lower case/],
    ['user/App', /lower case/],
    ['ubuntu:', /not a valid tag/],
    ['ubuntu:-bad', /not a valid tag/],
    [`ubuntu:${'t'.repeat(129)}`, /not a valid tag/],
    ['ubuntu@sha256:abc', /digest/],
    [`ubuntu@sha256:${'A'.repeat(64)}`, /64 lower-case/],
    [`ubuntu@md5:${'a'.repeat(32)}`, /unsupported digest algorithm/],
    ['a//b', /path component/],
    ['a/b/', /path component/],
    ['-a/b', /path component/],
    ['a..b/c', /registry host/],
    ['a_b.c/d', /registry host/],
    ['host:port/a', /registry host/],
    [':tag', /empty/],
    [' ubuntu', /spaces/],
    ['a'.repeat(64).replace(/a/g, 'f'), /image ID/],
    [`${'x'.repeat(250)}.io/${'y'.repeat(10)}`, /longer than 255/],
  ];
  for (const [input, why] of invalid) {
    test(`rejects "${input.length > 40 ? `${input.slice(0, 40)}...` : input}"`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) =>
          err instanceof InputError && err.code === 'REFERENCE_INVALID' && why.test(err.message),
      );
    });
  }
});

describe('familiarName', () => {
  const cases: [string, string][] = [
    ['docker.io/library/ubuntu:latest', 'ubuntu:latest'],
    ['ubuntu', 'ubuntu:latest'],
    ['docker.io/user/app:1', 'user/app:1'],
    ['docker.io/library/a/b:1', 'library/a/b:1'],
    ['127.0.0.1:5000/a:b', '127.0.0.1:5000/a:b'],
    [`busybox@${D}`, `busybox@${D}`],
  ];
  for (const [input, expected] of cases) {
    test(`shortens "${input}" to "${expected}"`, () => {
      assert.equal(familiarName(parseReference(input)), expected);
    });
  }
});
