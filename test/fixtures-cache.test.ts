import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCommand } from './support/command.js';

const imagesModule = fileURLToPath(new URL('./support/images.js', import.meta.url));

/** Asks a fresh node process for a fixture in cacheDir and returns the layout it got. */
async function layoutInChild(cacheDir: string, name: string): Promise<{ dir: string }> {
  const script = `const m = await import(${JSON.stringify(imagesModule)});
    const l = await m.fixtureLayout(${JSON.stringify(name)});
    process.stdout.write(JSON.stringify(l));`;
  const { stdout } = await runCommand(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, KILN_FIXTURES_DIR: cacheDir },
    timeoutMs: 120_000,
  });
  return JSON.parse(stdout) as { dir: string };
}

describe('the fixture cache', () => {
  let cacheDir: string;
  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'kiln-fixture-cache-'));
  });
  after(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  test('gives two processes that build at once the same complete layout', async () => {
    const [a, b] = await Promise.all([
      layoutInChild(cacheDir, 'busybox'),
      layoutInChild(cacheDir, 'busybox'),
    ]);
    assert.equal(a.dir, b.dir);
    assert.deepEqual((await readdir(cacheDir)).sort(), [a.dir.slice(cacheDir.length + 1)]);
    assert.deepEqual((await readdir(a.dir)).sort(), ['blobs', 'index.json', 'oci-layout']);
  });

  test('reuses a cached layout and breaks a lock left by a dead process', async () => {
    const first = await layoutInChild(cacheDir, 'busybox');
    const stamp = join(first.dir, 'blobs', 'kept');
    await writeFile(stamp, '');
    const again = await layoutInChild(cacheDir, 'busybox');
    assert.equal(again.dir, first.dir);
    assert.ok((await readdir(join(first.dir, 'blobs'))).includes('kept'));

    await rm(first.dir, { recursive: true });
    const lock = `${first.dir}.lock`;
    await mkdir(lock);
    // A pid above the kernel's pid_max cannot belong to a live process.
    await writeFile(join(lock, 'pid'), '4194305');
    const rebuilt = await layoutInChild(cacheDir, 'busybox');
    assert.equal(rebuilt.dir, first.dir);
    assert.deepEqual((await readdir(cacheDir)).sort(), [first.dir.slice(cacheDir.length + 1)]);
  });
});
