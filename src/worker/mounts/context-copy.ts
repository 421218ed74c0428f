import {
  chmod,
  copyFile,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  realpath,
  symlink,
} from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../errors.js';
import { checkUtf8Names } from '../../image/tar/utf8-names.js';

/**
 * Copies what a `RUN --mount=type=bind` (from the context) shows into `dest`, keeping its path
 * below `dest`: only what the build context holds, so .dockerignore'd files stay out, as in a
 * BuildKit context transfer. Files are owned by whoever kiln is (root in its namespace), like
 * context files in BuildKit's mounts. Returns the source's path relative to `dest`.
 */
export async function copyContextSource(
  contextDir: string,
  source: string,
  ignore: (relPath: string) => boolean,
  dest: string,
): Promise<string> {
  const rel = path.posix.normalize(`/${source}`).slice(1);
  const root = await realpath(contextDir);
  const from = path.join(root, rel);
  const real = await realpath(from).catch(() => undefined);
  if (real === undefined || (real !== root && !real.startsWith(`${root}/`))) {
    throw new BuildError(
      'RUN_MOUNT_SOURCE',
      `RUN --mount: source ${source || '.'} is not in the build context`,
    );
  }
  if (rel !== '' && ignore(rel)) {
    throw new BuildError(
      'RUN_MOUNT_SOURCE',
      `RUN --mount: source ${source} is excluded by .dockerignore`,
    );
  }

  const to = path.join(dest, rel);
  await mkdir(dest, { recursive: true });
  await mkdir(path.dirname(to), { recursive: true });
  // Not fs.cp: it refuses a destination inside the source, which is where kiln's scratch space
  // is when the cache directory lives in the context; that directory is skipped instead.
  const skip = await realpath(dest);
  await copyTree(real, to, rel, ignore, skip);
  return rel;
}

async function copyTree(
  from: string,
  to: string,
  rel: string,
  ignore: (relPath: string) => boolean,
  skip: string,
): Promise<void> {
  const st = await lstat(from);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(from), to);
  } else if (st.isFile()) {
    await copyFile(from, to);
    await chmod(to, st.mode & 0o7777);
  } else if (st.isDirectory()) {
    if (from === skip) return;
    await mkdir(to, { recursive: true });
    for (const name of (await readdir(from)).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (ignore(child)) continue;
      checkUtf8Names(from, [name], rel, 'build context');
      await copyTree(path.join(from, name), path.join(to, name), child, ignore, skip);
    }
    await chmod(to, st.mode & 0o7777);
  } else {
    // Sockets, FIFOs and devices are not context content.
    return;
  }
  await lutimes(to, st.atime, st.mtime);
}
