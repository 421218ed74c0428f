/**
 * Builds each example under examples/ with the real CLI against the test base images (the base is
 * a build arg in every example), then runs the image with runc and checks what it does.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pushFixture } from './support/images.js';
import { runKiln } from './support/kiln.js';
import { runcRun, skopeoInspect, umociUnpack } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

// This file runs as dist/test/examples.test.js; the repository root is two levels up.
const EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');

describe('the examples', () => {
  let registry: TestRegistry;
  let busybox: string;
  let node: string;
  let work: string;

  /** Builds examples/NAME into an OCI layout and unpacks it; returns the layout and bundle. */
  const buildExample = async (name: string, buildArg: string) => {
    // A copy, so a build never depends on files the checkout happens to have beside the example.
    const context = join(work, `${name}-ctx`);
    await cp(join(EXAMPLES, name), context, { recursive: true });
    const layout = join(work, `${name}-layout`);
    const res = await runKiln([
      'build',
      '--progress=plain',
      '--cache-dir',
      join(work, 'cache'),
      '--build-arg',
      buildArg,
      '-o',
      `type=oci,dest=${layout},tar=false`,
      '-t',
      `${name}:test`,
      context,
    ]);
    assert.equal(res.code, 0, res.stderr.slice(-4000));
    const bundle = join(work, `${name}-bundle`);
    await umociUnpack(layout, 'test', bundle);
    return { layout, bundle, log: res.stderr };
  };

  before(async () => {
    registry = await startRegistry();
    busybox = await pushFixture('busybox', registry.host);
    node = await pushFixture('node', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-examples-'));
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('static-site: renders the pages in a build stage and ships only the result', async () => {
    const { layout, bundle } = await buildExample('static-site', `BASE_IMAGE=${busybox}`);

    const image = await skopeoInspect(`oci:${layout}:test`);
    assert.equal((image.Layers as string[]).length, 2, 'the base layer and the copied site');
    const config = await skopeoInspect(`oci:${layout}:test`, { config: true });
    const runtime = config.config as Record<string, unknown>;
    assert.deepEqual(runtime.Cmd, ['httpd', '-f', '-v', '-p', '8080', '-h', '/www']);
    assert.equal(runtime.User, '1000:1000');

    const sums = await runcRun(bundle, ['/bin/sh', '-c', 'cd /www && sha256sum -c SHA256SUMS']);
    assert.equal(sums.code, 0, sums.stdout + sums.stderr);
    const list = await runcRun(bundle, ['/bin/sh', '-c', 'ls /www; test ! -e /src']);
    assert.equal(list.code, 0, 'the build stage is not in the image');
    assert.deepEqual(list.stdout.trim().split('\n'), [
      'SHA256SUMS',
      'about.html',
      'guide.html',
      'index.html',
      'sitemap.txt',
    ]);
    const about = await runcRun(bundle, ['/bin/cat', '/www/about.html']);
    assert.match(about.stdout, /<title>About this site<\/title>/);
    assert.match(about.stdout, /rendered pages &amp; busybox/);
    const index = await runcRun(bundle, ['/bin/cat', '/www/index.html']);
    assert.match(index.stdout, /<a href="guide.html">Building images without a daemon<\/a>/);
  });

  it('shell-tool: tests the tool while building and runs it as the entrypoint', async () => {
    const { layout, bundle, log } = await buildExample('shell-tool', `BASE_IMAGE=${busybox}`);
    assert.match(log, /csvsum: self-test passed/);

    const config = await skopeoInspect(`oci:${layout}:test`, { config: true });
    assert.deepEqual((config.config as Record<string, unknown>).Entrypoint, ['csvsum']);
    const run = await runcRun(bundle, ['csvsum', '-d', ';'], {
      input: 'name;kg;city\na;1.5;x\nb;2;y\n',
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'kg\t3.5\t2\n');
    const who = await runcRun(bundle, ['id', '-u']);
    assert.equal(who.stdout.trim(), '1000');
  });

  it('node-cli: runs its tests in the build stage and ships one bundled module', async () => {
    const { layout, bundle, log } = await buildExample('node-cli', `NODE_IMAGE=${node}`);
    assert.match(log, /# pass 2/);

    const config = await skopeoInspect(`oci:${layout}:test`, { config: true });
    const runtime = config.config as Record<string, unknown>;
    assert.deepEqual(runtime.Entrypoint, ['node', '/usr/local/lib/wordfreq/wordfreq.mjs']);
    assert.deepEqual(runtime.Cmd, ['5']);
    const run = await runcRun(bundle, ['node', '/usr/local/lib/wordfreq/wordfreq.mjs', '2'], {
      input: 'The cat and the hat.\nthe end\n',
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '3\tthe\n1\tand\n');
    const files = await runcRun(bundle, ['/bin/ls', '/usr/local/lib/wordfreq']);
    assert.equal(files.stdout, 'wordfreq.mjs\n');
  });
});
