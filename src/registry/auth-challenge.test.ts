import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseChallenges } from './auth-challenge.js';

test('parses a Bearer challenge with realm, service and scope', () => {
  const header =
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' +
    'scope="repository:library/ubuntu:pull"';
  assert.deepEqual(parseChallenges(header), [
    {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/ubuntu:pull',
      },
    },
  ]);
});

test('parses a Basic challenge and lower-cases the scheme', () => {
  assert.deepEqual(parseChallenges('BASIC realm="Registry Realm"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
  ]);
});

test('reads escaped quotes and unquoted values', () => {
  assert.deepEqual(parseChallenges('Bearer realm="a\\"b", service=svc , error=invalid_token'), [
    { scheme: 'bearer', params: { realm: 'a"b', service: 'svc', error: 'invalid_token' } },
  ]);
});

test('splits two challenges in one header and in two headers', () => {
  const one = parseChallenges('Basic realm="x", Bearer realm="y",service="z"');
  assert.deepEqual(
    one.map((c) => c.scheme),
    ['basic', 'bearer'],
  );
  assert.equal(one[1]?.params.service, 'z');
  const two = parseChallenges(['Basic realm="x"', 'Bearer realm="y"']);
  assert.deepEqual(
    two.map((c) => c.params.realm),
    ['x', 'y'],
  );
});

test('returns nothing for a missing header', () => {
  assert.deepEqual(parseChallenges(undefined), []);
});
