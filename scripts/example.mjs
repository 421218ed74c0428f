// Runs kiln's main job on examples/hello: starts a registry on a free loopback port, puts a
// busybox base image in it (made from Debian's busybox-static, no Docker Hub needed), builds the
// example with `kiln build --push` and an OCI layout, shows the pushed image with skopeo, runs
// it with runc, and stops the registry.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { startRegistry } = await import(join(root, 'dist/test/support/registry.js'));
const { pushFixture } = await import(join(root, 'dist/test/support/images.js'));
const { umociUnpack, runcRun } = await import(join(root, 'dist/test/support/oci-tools.js'));

const work = mkdtempSync(join(tmpdir(), 'kiln-example-'));
const registry = await startRegistry();
try {
  const base = await pushFixture('busybox', registry.host);
  const image = `${registry.host}/examples/hello:latest`;
  const layout = join(work, 'layout');
  const kiln = [join(root, 'dist/src/cli/kiln.mjs'), 'build', '--progress=plain'];
  const args = ['--build-arg', `BASE=${base}`, '-t', image, '--push'];
  const out = ['-o', `type=oci,dest=${layout},tar=false`, '--cache-dir', join(work, 'cache')];
  console.log(`$ kiln build ${[...args, ...out].join(' ')} examples/hello`);
  execFileSync(process.execPath, [...kiln, ...args, ...out, join(root, 'examples/hello')], {
    stdio: 'inherit',
  });

  console.log(`\n$ skopeo inspect docker://${image}`);
  execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${image}`], { stdio: 'inherit' });

  console.log('\n$ runc run (the image, unpacked by umoci)');
  const bundle = join(work, 'bundle');
  await umociUnpack(layout, 'latest', bundle);
  const run = await runcRun(bundle, ['cat', '/srv/greeting.txt', '/srv/message.txt']);
  process.stdout.write(run.stdout + run.stderr);
} finally {
  await registry.stop();
  rmSync(work, { recursive: true, force: true });
}
