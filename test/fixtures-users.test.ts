import assert from 'node:assert/strict';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixtureLayout } from './support/images.js';
import { runcRun, umociUnpack } from './support/oci-tools.js';
import { ensureTestUser, runAs, TEST_USER, type TestUser } from './support/users.js';

describe('the unprivileged test user', () => {
  let user: TestUser;
  let scratch: string;
  before(async () => {
    user = await ensureTestUser();
    scratch = await mkdtemp(join(tmpdir(), 'kiln-users-test-'));
    await chown(scratch, user.uid, user.gid);
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('exists with a home and a subordinate id range of 65536 in both files', async () => {
    assert.equal(user.name, TEST_USER);
    assert.notEqual(user.uid, 0);
    assert.equal(user.subuid.count, 65536);
    assert.equal(user.subgid.count, 65536);
    const subuid = await readFile('/etc/subuid', 'utf8');
    assert.match(subuid, new RegExp(`^${TEST_USER}:${user.subuid.start}:65536$`, 'm'));
  });

  test('is set up once however often it is asked for', async () => {
    const again = await Promise.all([ensureTestUser(), ensureTestUser()]);
    assert.deepEqual(again, [user, user]);
    const subgid = await readFile('/etc/subgid', 'utf8');
    const lines = subgid.split('\n').filter((l) => l.startsWith(`${TEST_USER}:`));
    assert.equal(lines.length, 1);
  });

  test('runs commands as that user with its own home and no extra groups', async () => {
    const result = await runAs(user, 'sh', ['-c', 'id -u; id -G; echo "$HOME"; pwd']);
    assert.equal(result.stdout, `${user.uid}\n${user.gid}\n${user.home}\n${user.home}\n`);
    const byName = await runAs(TEST_USER, 'id', ['-un']);
    assert.equal(byName.stdout.trim(), TEST_USER);
  });

  test('returns a failing exit code when asked not to throw', async () => {
    const result = await runAs(user, 'sh', ['-c', 'echo oops >&2; exit 7'], { check: false });
    assert.equal(result.code, 7);
    assert.equal(result.stderr, 'oops\n');
  });

  test('can unpack and run the busybox fixture rootless with umoci and runc', async () => {
    const layout = await fixtureLayout('busybox');
    const bundle = join(scratch, 'bundle');
    await umociUnpack(layout.dir, layout.tag, bundle, { as: user });
    const result = await runcRun(bundle, ['sh', '-c', 'id -u; touch /tmp/x && echo ok'], {
      as: user,
    });
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, '0\nok\n');
  });
});
