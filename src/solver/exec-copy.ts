import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { CopyOp } from '../graph/plan.js';
import { unpackArchive } from '../worker/fileops/add-archive.js';
import { copyFiles } from '../worker/fileops/copy-files.js';
import { diffUpperDir } from '../worker/snapshot/diff-upper-dir.js';
import { LayerStack } from '../worker/snapshot/layer-stack.js';
import { mountMerged, unmount } from '../worker/snapshot/mount-merged.js';
import { type AddRemoteSources, splitAddSources } from './add-remote.js';
import { commitLayer, snapshotIdFor } from './commit-layer.js';
import { resolveUser } from './passwd.js';
import type { StepOutput } from './solver.js';
import type { StepContext } from './step-context.js';

/** Where COPY reads from: the context directory, or the layer dirs of a stage or image. */
export type CopyRoot = { kind: 'dir'; dir: string } | { kind: 'layers'; dirs: string[] };

/**
 * COPY/ADD into a fresh layer dir above `lowerDirs`. A stage or image source is mounted
 * read-only (an overlay of its layers) for the time of the copy. ADD extracts local archives
 * and takes URLs and git repositories from `remote`, which fetches them into the scratch dir.
 */
export async function executeCopy(
  op: CopyOp,
  lowerDirs: string[],
  root: CopyRoot,
  ignore: ((rel: string) => boolean) | undefined,
  ctx: StepContext,
  remote?: AddRemoteSources,
): Promise<StepOutput> {
  const { local, remote: remoteSources } = splitAddSources(op);
  const destStack = LayerStack.fromLowerDirs(lowerDirs, ctx.xattrPrefix);
  const chown = op.chown === undefined ? undefined : await resolveChown(op.chown, destStack);
  const pending = await ctx.snapshots.create(snapshotIdFor(ctx.key));
  let mounted: string | undefined;
  let inlineDir: string | undefined;
  let unpackDir: string | undefined;
  try {
    let sourceRoot: string;
    if (root.kind === 'dir') sourceRoot = root.dir;
    else if (root.dirs.length === 0)
      sourceRoot = await fsp.mkdtemp(path.join(ctx.scratchDir, 'empty-'));
    else {
      mounted = await fsp.mkdtemp(path.join(ctx.scratchDir, 'from-'));
      await mountMerged(root.dirs, mounted, ctx.xattrPrefix);
      sourceRoot = mounted;
    }
    const inlineNames = (op.inline ?? []).map((f) => f.name);
    if (op.inline || remoteSources.length > 0) {
      inlineDir = await writeInlineFiles(op.inline ?? [], ctx.scratchDir);
    }
    if (remoteSources.length > 0) {
      if (remote === undefined) throw new Error('ADD of a URL or git repository needs its fetcher');
      inlineNames.push(...(await remote.materialize(op, inlineDir!, ctx.signal)));
    }
    if (op.instruction === 'ADD' && op.unpack !== false && local.length > 0) {
      unpackDir = await fsp.mkdtemp(path.join(ctx.scratchDir, 'add-'));
    }
    const unpackTo = unpackDir;
    await copyFiles({
      sourceRoot,
      sources: local,
      dest: op.dest,
      targetDir: pending.dir,
      destStack,
      fromStage: root.kind === 'layers',
      ...(chown ? { chown } : {}),
      ...(op.chmod === undefined ? {} : { chmod: op.chmod }),
      exclude: op.exclude,
      ...(op.parents ? { parents: true } : {}),
      ...(ignore && root.kind === 'dir' ? { ignore } : {}),
      ...(inlineDir ? { inline: { dir: inlineDir, names: inlineNames } } : {}),
      ...(unpackTo === undefined
        ? {}
        : {
            unpack: (file: string) =>
              unpackArchive(file, {
                scratchDir: unpackTo,
                onWarning: (message) => ctx.bus.emit({ type: 'warning', message }),
              }),
          }),
    });
    const entries = await diffUpperDir(pending.dir, { ignore: [], xattrPrefix: ctx.xattrPrefix });
    return await commitLayer(entries, pending, ctx);
  } catch (err) {
    await pending.discard();
    throw err;
  } finally {
    if (mounted) {
      await unmount(mounted);
      await fsp.rm(mounted, { recursive: true, force: true });
    }
    if (inlineDir) await fsp.rm(inlineDir, { recursive: true, force: true });
    if (unpackDir) await fsp.rm(unpackDir, { recursive: true, force: true });
  }
}

/**
 * Writes heredoc sources as files named after their heredocs. BuildKit makes them 0644 (its
 * frontends 1.4 and 1.5 used 0664); the chmod undoes the umask, which may be stricter.
 */
async function writeInlineFiles(
  files: { name: string; content: string }[],
  scratchDir: string,
): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(scratchDir, 'heredoc-'));
  for (const file of files) {
    const target = path.join(dir, file.name);
    await fsp.writeFile(target, file.content, { mode: 0o644 });
    await fsp.chmod(target, 0o644);
  }
  return dir;
}

/**
 * --chown names are looked up in the destination image's /etc/passwd and /etc/group. A user
 * without a group (name or number) gets the user's numeric id as its group, as Docker documents.
 */
async function resolveChown(
  spec: string,
  stack: LayerStack,
): Promise<{ uid: number; gid: number }> {
  const [passwd, group] = await Promise.all([
    stack.readFile('/etc/passwd'),
    stack.readFile('/etc/group'),
  ]);
  const user = resolveUser(spec, passwd?.toString('utf8'), group?.toString('utf8'));
  return spec.includes(':') ? { uid: user.uid, gid: user.gid } : { uid: user.uid, gid: user.uid };
}
