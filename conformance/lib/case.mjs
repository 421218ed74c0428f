/**
 * One corpus case: its context prepared, built by kiln and by BuildKit, both images unpacked
 * and compared. A case directory holds a Dockerfile and its context, and optionally:
 *   setup.sh    run in the copied context (cwd) before the builds, then deleted; for what git
 *               cannot store. $CASE_WORK is the case's work directory outside the context, for
 *               files such as secrets that must not be in the context.
 *   build.json  then deleted: { "args": [...] } extra build flags for both builders,
 *               "kiln": [...] / "docker": [...] for one of them, "expect": see compare.mjs,
 *               "prebuild": [{ "context": DIR, "tag": NAME }] base images that dockerd builds
 *               from a directory of the case (then removed from the context) and pushes as
 *               @registry@/conformance/NAME:latest before the case, the same image for both.
 * In build.json strings and in the Dockerfile, @registry@ (the loopback registry's host:port),
 * @http@ (the loopback file server's URL), @ssh@ (the ssh-agent socket) and @work@ (the case's
 * work directory) are replaced before the builds.
 */
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { checkExpectations, compareConfigs, compareTrees } from './compare.mjs';
import { run } from './process.mjs';
import { describeTree } from './tree.mjs';
import { unpackArchive } from './unpack.mjs';

function substitute(text, vars) {
  return text.replace(/@(registry|http|ssh|work)@/g, (_, name) => vars[name]);
}

async function prepare(name, env, work, ctx) {
  await fsp.mkdir(work, { recursive: true });
  await run('cp', ['-a', join(env.corpusDir, name), ctx]);
  const vars = { registry: env.registryHost, http: env.http.url, ssh: env.ssh.socket, work };
  if (existsSync(join(ctx, 'setup.sh'))) {
    await run('sh', [join(ctx, 'setup.sh')], {
      cwd: ctx,
      env: { ...process.env, CASE_WORK: work },
    });
    await fsp.rm(join(ctx, 'setup.sh'));
  }
  let config = {};
  if (existsSync(join(ctx, 'build.json'))) {
    const text = await fsp.readFile(join(ctx, 'build.json'), 'utf8');
    config = JSON.parse(substitute(text, vars));
    await fsp.rm(join(ctx, 'build.json'));
  }
  const dockerfile = join(ctx, 'Dockerfile');
  const text = await fsp.readFile(dockerfile, 'utf8');
  if (substitute(text, vars) !== text) await fsp.writeFile(dockerfile, substitute(text, vars));
  return config;
}

/** Builds and pushes the case's base images, and takes their directories out of the context. */
async function prebuild(config, env, ctx) {
  for (const { context, tag } of config.prebuild ?? []) {
    const ref = `${env.registryHost}/conformance/${tag}:latest`;
    const dir = join(ctx, context);
    const args = ['build', '--network=host', '--build-arg', `BASE=${env.base}`, '-t', ref, dir];
    await env.dockerd.docker(args);
    await env.dockerd.docker(['push', ref]);
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

export async function runCase(name, env) {
  const work = join(env.work, 'cases', name);
  const ctx = join(work, 'context');
  const config = await prepare(name, env, work, ctx);
  await prebuild(config, env, ctx);
  const common = ['--network=host', '--build-arg', `BASE=${env.base}`, ...(config.args ?? [])];

  const kilnTar = join(work, 'kiln.tar');
  const kargs = [env.kilnBin, 'build', '--progress=plain'];
  kargs.push('--cache-dir', join(env.work, 'kiln-cache'), '--insecure-registry', env.registryHost);
  kargs.push(...common, ...(config.kiln ?? []), '-t', `conf/${name}`);
  kargs.push('-o', `type=docker,dest=${kilnTar}`, ctx);
  await run(process.execPath, kargs);

  const buildStartSec = Math.floor(Date.now() / 1000);
  const dargs = ['build', '--progress=plain', ...common, ...(config.docker ?? [])];
  await env.dockerd.docker([...dargs, '-t', `conf/${name}`, ctx]);
  const bkTar = join(work, 'buildkit.tar');
  await env.dockerd.docker(['save', '-o', bkTar, `conf/${name}`]);

  const kiln = await unpackArchive(kilnTar, join(work, 'kiln'));
  const bk = await unpackArchive(bkTar, join(work, 'buildkit'));
  const diffs = compareConfigs(kiln, bk);
  const [kTree, bTree] = [await describeTree(kiln.rootfs), await describeTree(bk.rootfs)];
  diffs.push(...compareTrees(kTree, bTree, buildStartSec));
  const images = { kiln: kiln.rootfs, buildkit: bk.rootfs };
  diffs.push(...(await checkExpectations(config.expect, images)));
  if (!process.env.KILN_CONFORMANCE_KEEP) await fsp.rm(work, { recursive: true, force: true });
  return diffs;
}
