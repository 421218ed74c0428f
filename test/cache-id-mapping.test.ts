/**
 * A cache dir holds host owners that mean image owners only under the id mapping that wrote
 * them: root's build on a rootless user's cache is refused instead of making wrong owners.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { runCommand } from './support/command.js';
import { jsonEvents, runKiln, runKilnAs } from './support/kiln.js';
import { ensureTestUser } from './support/users.js';

describe('cache id mapping', () => {
  const env = useBusyboxRegistry('id-mapping');

  it("refuses root's build on a cache a rootless user made, and keeps the user's cache", async () => {
    const user = await ensureTestUser();
    await chmod(env.work, 0o755);
    const dir = join(env.work, 'shared');
    const ctx = join(dir, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${env.base}\nRUN chmod 600 /etc/passwd\n`);
    await runCommand('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    const cache = join(dir, 'cache');

    const byUser = await runKilnAs(user, ['build', '--progress=plain', '--cache-dir', cache, ctx]);
    assert.equal(byUser.code, 0, byUser.stderr);
    const recorded = await readFile(join(cache, 'id-mapping'), 'utf8');
    assert.match(recorded, new RegExp(`^uid 0 ${user.uid} 1`));

    // A step that must run on top of the user's snapshots (a fully cached build reads none).
    const rootCtx = join(env.work, 'root-ctx');
    await mkdir(rootCtx, { recursive: true });
    await writeFile(
      join(rootCtx, 'Dockerfile'),
      `FROM ${env.base}\nRUN chmod 600 /etc/passwd\nRUN touch /by-root\n`,
    );
    const byRoot = await runKiln(['build', '--progress=json', '--cache-dir', cache, rootCtx]);
    assert.equal(byRoot.code, 2, byRoot.stderr);
    const error = jsonEvents(byRoot.stderr).find((e) => e.type === 'error');
    assert.equal(error?.code, 'CACHE_ID_MAPPING_CHANGED');
    assert.equal(await readFile(join(cache, 'id-mapping'), 'utf8'), recorded, 'left as it was');

    const again = await runKilnAs(user, ['build', '--progress=plain', '--cache-dir', cache, ctx]);
    assert.equal(again.code, 0, again.stderr);
  });
});
