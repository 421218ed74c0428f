/**
 * Real RUN steps in kiln's sandbox, as root (identity-mapped user namespace) and as the
 * unprivileged test user (made with a subuid range by test/support/users.ts). Needs root.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureTestUser } from './support/users.js';

const driver = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker-sandbox-driver.js');
const isRoot = process.getuid?.() === 0;
// The unprivileged user is created (with its subordinate id range) when missing, never skipped.
const user = isRoot ? await ensureTestUser() : undefined;

function run(asUser: 'root' | 'unprivileged', scenario: string): Record<string, unknown> {
  const argv = [process.execPath, driver, scenario];
  const out =
    asUser === 'root'
      ? execFileSync(argv[0] as string, argv.slice(1), { cwd: '/tmp' })
      : execFileSync('/usr/sbin/runuser', ['-u', user?.name ?? 'nobody', '--', ...argv], {
          cwd: '/tmp',
          env: { PATH: '/usr/bin:/bin', HOME: '/tmp' },
        });
  return JSON.parse(out.toString()) as Record<string, unknown>;
}

for (const asUser of ['root', 'unprivileged'] as const) {
  const skip = isRoot ? false : 'needs root';
  describe(`RUN in the sandbox as ${asUser}`, { skip }, () => {
    test('records exactly the files written, chowned, made setuid and deleted, with a whiteout', () => {
      const r = run(asUser, 'changes');
      assert.equal(r.isolation, 'userns');
      assert.equal(r.exitCode, 0, JSON.stringify(r));
      assert.deepEqual(r.entries, [
        ['etc', 'dir', 0o755, 0, 0, 0],
        ['etc/.wh.victim', 'file', 0o600, 0, 0, 0],
        ['new', 'file', 0o644, 1000, 1000, 3],
        ['nobody', 'file', 0o644, 65534, 65534, 0],
        ['suid', 'file', 0o4755, 0, 0, 0],
      ]);
      assert.deepEqual(r.created, ['proc', 'dev', 'sys', 'etc/hosts', 'etc/resolv.conf']);
    });

    test('passes the exit code of the command on', () => {
      assert.equal(run(asUser, 'exit').exitCode, 7);
    });

    test('kills the whole process tree when aborted', () => {
      const r = run(asUser, 'abort');
      assert.equal(r.error, 'RUN_CANCELED');
      assert.equal(r.leftover, false);
    });

    test('gives network none only a loopback interface', () => {
      const r = run(asUser, 'net');
      const ifaces = String(r.stdout)
        .split('\n')
        .slice(2)
        .map((l) => l.split(':')[0]?.trim())
        .filter((n) => n !== '' && n !== undefined);
      assert.deepEqual(ifaces, ['lo']);
    });

    test('runs as the step user with its supplementary groups', () => {
      assert.equal(run(asUser, 'user').stdout, '1000\n1001\n1001 27 65534\n');
    });
  });
}
