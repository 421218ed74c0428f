import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveUser } from './passwd.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n';

describe('resolveUser()', () => {
  it('resolves an unset user to uid 0 without a passwd file, as runc does', () => {
    assert.deepEqual(resolveUser(''), { uid: 0, gid: 0, additionalGids: [], home: '/' });
    assert.deepEqual(resolveUser('', 'app:x:1000:1000:app:/home/app:/bin/sh\n'), {
      uid: 0,
      gid: 0,
      additionalGids: [],
      home: '/',
    });
  });

  it("takes an unset user's group and home from the uid 0 entry when there is one", () => {
    const passwd = 'toor:x:0:5:toor:/toor:/bin/sh\n';
    assert.deepEqual(resolveUser('', passwd), {
      uid: 0,
      gid: 5,
      additionalGids: [],
      home: '/toor',
    });
  });

  it('refuses a named user, root included, that passwd does not list', () => {
    assert.throws(() => resolveUser('root'), /unable to find user root/);
    assert.throws(() => resolveUser('nobody', PASSWD, GROUP), /unable to find user nobody/);
  });

  it('gives a named user its primary group and the groups that list it', () => {
    assert.deepEqual(resolveUser('app', PASSWD, GROUP), {
      uid: 1000,
      gid: 1000,
      additionalGids: [2000],
      home: '/home/app',
    });
  });
});
