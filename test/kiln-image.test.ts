/**
 * kiln's own image, built by kiln from this checkout (kiln.Dockerfile on the test registry's Node
 * image), runs under runc and keeps kaniko's paths and an `executor` entrypoint.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCommand } from './support/command.js';
import { pushFixture } from './support/images.js';
import { runKiln } from './support/kiln.js';
import { runcRun, skopeoInspect, umociUnpack } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe("kiln's own image", () => {
  let registry: TestRegistry;
  let work: string;
  let tools: string;

  before(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'kiln-image-'));
    tools = `.tmp/image-tools-${process.pid}`;
    await runCommand(join(repo, 'scripts/stage-image-tools.sh'), [join(repo, tools)]);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    if (tools) await rm(join(repo, tools), { recursive: true, force: true });
  });

  it('is built by kiln and runs kiln under runc', async () => {
    const node = await pushFixture('node', registry.host);
    const layout = join(work, 'layout');
    const res = await runKiln([
      'build',
      '-f',
      join(repo, 'kiln.Dockerfile'),
      '--build-arg',
      `NODE_IMAGE=${node}`,
      '--build-arg',
      `TOOLS=${tools}`,
      '--progress=plain',
      '--cache-dir',
      join(work, 'cache'),
      '-t',
      'kiln:test',
      '-o',
      `type=oci,dest=${layout},tar=false`,
      repo,
    ]);
    assert.equal(res.code, 0, res.stderr);

    const config = (await skopeoInspect(`oci:${layout}:test`, { config: true })) as {
      config: { Entrypoint: string[]; WorkingDir: string; Env: string[] };
    };
    assert.deepEqual(config.config.Entrypoint.slice(-1), ['executor']);
    assert.equal(config.config.WorkingDir, '/workspace');
    assert.ok(config.config.Env.includes('DOCKER_CONFIG=/kaniko/.docker'));

    const bundle = join(work, 'bundle');
    await umociUnpack(layout, 'test', bundle);
    const version = await runcRun(bundle, ['/usr/local/bin/kiln', '--version']);
    assert.equal(version.code, 0, version.stderr);
    const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as {
      version: string;
    };
    assert.equal(version.stdout.trim(), pkg.version);
    const unshare = await runcRun(bundle, ['/usr/bin/unshare', '--version']);
    assert.match(unshare.stdout, /util-linux/, 'the sandbox tools run inside the image');
  });
});
