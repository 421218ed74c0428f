import { BuildError } from '../errors.js';
import type { RunOp } from '../graph/plan.js';
import { runStep } from '../worker/sandbox/run-step.js';
import { walkUpperDir } from '../worker/snapshot/diff-upper-dir.js';
import { LayerStack } from '../worker/snapshot/layer-stack.js';
import { commitLayer, snapshotIdFor } from './commit-layer.js';
import { resolveUser } from './passwd.js';
import { prepareRunMounts, type RunMountEnv } from './run-mounts.js';
import type { StepOutput } from './solver.js';
import type { StepContext } from './step-context.js';

/** Runs a RUN step in the sandbox on top of `lowerDirs` and captures what it changed. */
export async function executeRun(
  op: RunOp,
  lowerDirs: string[],
  ctx: StepContext,
  mountEnv?: RunMountEnv,
): Promise<StepOutput> {
  const stack = LayerStack.fromLowerDirs(lowerDirs, ctx.xattrPrefix);
  const [passwd, group] = await Promise.all([
    stack.readFile('/etc/passwd'),
    stack.readFile('/etc/group'),
  ]);
  const user = resolveUser(op.user, passwd?.toString('utf8'), group?.toString('utf8'));
  const env = [...op.env, ...op.proxyEnv];
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);

  const mounts =
    op.mounts === undefined || mountEnv === undefined
      ? undefined
      : await prepareRunMounts(op, mountEnv, ctx.scratchDir, ctx.signal);
  if (op.mounts !== undefined && mounts === undefined) {
    throw new Error('RUN --mount needs the build environment for its mounts');
  }
  for (const e of mounts?.env ?? []) {
    const name = e.slice(0, e.indexOf('=') + 1);
    if (!env.some((have) => have.startsWith(name))) env.push(e);
  }

  const pending = await ctx.snapshots.create(snapshotIdFor(ctx.key));
  try {
    const result = await runStep({
      lowerDirs,
      upperDir: pending.dir,
      workDir: pending.workDir,
      argv: op.argv,
      env,
      cwd: op.cwd,
      uid: user.uid,
      gid: user.gid,
      additionalGids: user.additionalGids,
      network: op.network,
      hostname: 'kiln',
      xattrPrefix: ctx.xattrPrefix,
      scratchDir: ctx.scratchDir,
      signal: ctx.signal,
      ...(mounts === undefined ? {} : { mounts: mounts.mounts, secretEnv: mounts.secretEnv }),
      ...(op.heredocScript === undefined
        ? {}
        : { script: { name: op.heredocScript.name, data: Buffer.from(op.heredocScript.content) } }),
      onOutput: (stream, chunk) =>
        ctx.bus.emit({ type: 'log', id: ctx.vertexId, stream, data: chunk.toString('utf8') }),
    });
    if (result.exitCode !== 0 || result.signal) {
      const how = result.signal ? `signal ${result.signal}` : `exit code ${result.exitCode}`;
      throw new BuildError(
        'RUN_FAILED',
        `process "${op.argv.join(' ')}" did not complete successfully: ${how}`,
      );
    }
    const entries = walkUpperDir(pending.dir, {
      ignore: result.createdMountpoints,
      xattrPrefix: ctx.xattrPrefix,
    });
    return await commitLayer(entries, pending, ctx);
  } catch (err) {
    await pending.discard();
    throw err;
  } finally {
    await mounts?.release();
  }
}
