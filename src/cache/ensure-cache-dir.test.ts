import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureCacheDir } from './ensure-cache-dir.js';

describe('ensureCacheDir()', () => {
  it('creates missing parents and accepts an existing directory', async () => {
    const base = await mkdtemp(join(tmpdir(), 'kiln-cachedir-'));
    const dir = join(base, 'a', 'b', 'c');
    await ensureCacheDir(dir);
    assert.ok((await stat(dir)).isDirectory());
    await ensureCacheDir(dir);
    await rm(base, { recursive: true, force: true });
  });

  it('refuses a path under a file with a typed error', async () => {
    const base = await mkdtemp(join(tmpdir(), 'kiln-cachedir-'));
    await writeFile(join(base, 'file'), 'x');
    await assert.rejects(ensureCacheDir(join(base, 'file', 'cache')), {
      code: 'CACHE_DIR_UNUSABLE',
    });
    await assert.rejects(ensureCacheDir(join(base, 'file')), { code: 'CACHE_DIR_UNUSABLE' });
    await rm(base, { recursive: true, force: true });
  });

  it('returns an error instead of hanging under /proc', async () => {
    await assert.rejects(ensureCacheDir('/proc/kiln-no-such-dir/cache'), {
      code: 'CACHE_DIR_UNUSABLE',
    });
  });
});
