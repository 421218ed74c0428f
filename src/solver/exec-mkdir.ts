import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { MkdirOp } from '../graph/plan.js';
import { diffUpperDir } from '../worker/snapshot/diff-upper-dir.js';
import { LayerStack, pathComponents } from '../worker/snapshot/layer-stack.js';
import { mountOverlay } from '../worker/snapshot/mount-overlay.js';
import { commitLayer, snapshotIdFor } from './commit-layer.js';
import { resolveUser } from './passwd.js';
import type { StepOutput } from './solver.js';
import type { StepContext } from './step-context.js';

/**
 * WORKDIR: creates the directory and its missing parents, owned by the stage's USER as BuildKit
 * does. An existing directory is left as it is, and then the step makes no layer. Symlinks on
 * the way are followed inside the image root, as BuildKit's mkdir resolves the path: a link from
 * a lower layer stays a link and the directories are made where it points.
 */
export async function executeMkdir(
  op: MkdirOp,
  lowerDirs: string[],
  ctx: StepContext,
): Promise<StepOutput> {
  const stack = LayerStack.fromLowerDirs(lowerDirs, ctx.xattrPrefix);
  const resolved = await stack.resolve(op.path);
  const existing = await stack.lstat(resolved);
  if (existing?.stat.isDirectory()) return undefined;

  const [passwd, group] = await Promise.all([
    stack.readFile('/etc/passwd'),
    stack.readFile('/etc/group'),
  ]);
  const user = resolveUser(op.user, passwd?.toString('utf8'), group?.toString('utf8'));
  const pending = await ctx.snapshots.create(snapshotIdFor(ctx.key));
  try {
    const mount = await mountOverlay(
      lowerDirs,
      pending.dir,
      pending.workDir,
      ctx.scratchDir,
      ctx.xattrPrefix,
    );
    try {
      let current = mount.root;
      // Every existing component of `resolved` is a directory or a non-directory to replace,
      // never a symlink: the stack resolved them, and the mount shows the same tree.
      for (const part of pathComponents(resolved)) {
        current = path.join(current, part);
        const st = await fsp.lstat(current).catch(() => undefined);
        if (st?.isDirectory()) continue;
        if (st) await fsp.rm(current, { force: true });
        await fsp.mkdir(current, { mode: 0o755 });
        await fsp.chmod(current, 0o755);
        await fsp.lchown(current, user.uid, user.gid);
      }
    } finally {
      await mount.unmount();
    }
    const entries = await diffUpperDir(pending.dir, { ignore: [], xattrPrefix: ctx.xattrPrefix });
    return await commitLayer(entries, pending, ctx);
  } catch (err) {
    await pending.discard();
    throw err;
  }
}
