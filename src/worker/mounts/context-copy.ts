import { cp, lstat, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../errors.js';

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
  await mkdir(path.dirname(to), { recursive: true });
  await cp(real, to, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    filter: async (src) => {
      const under = path.relative(real, src);
      if (under === '') return true;
      const name = path.posix.join(rel, under.split(path.sep).join('/'));
      if (ignore(name)) return false;
      // Sockets and FIFOs are not context content (fs.cp refuses them anyway).
      const st = await lstat(src);
      return st.isFile() || st.isDirectory() || st.isSymbolicLink();
    },
  });
  return rel;
}
