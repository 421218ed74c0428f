import { realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * kiln's own files inside the build context: the cache dir, output destinations and result
 * files. A CI job must keep its caches under the project dir (GitLab caches only paths below
 * $CI_PROJECT_DIR), so `--cache-dir .cache/kiln` with `COPY . .` is the common case, not a
 * mistake. Seen as context, the cache would be hashed (every build a cache miss), copied into the
 * image, and `COPY . .` would walk into the snapshot it is writing. kaniko never copies its own
 * directories either, so these paths are left out of the context as if .dockerignore named them.
 */
export interface OwnPath {
  /** Context-relative path of the parent directory ('' for the context root). */
  parent: string;
  /** The path's last component. */
  name: string;
}

/**
 * The paths among `absolutePaths` that lie strictly inside `contextDir`, compared after symlinks
 * are resolved (a path that does not exist yet is resolved through its nearest existing parent).
 */
export function ownPathsInContext(contextDir: string, absolutePaths: readonly string[]): OwnPath[] {
  const root = resolveReal(contextDir);
  const own: OwnPath[] = [];
  for (const p of absolutePaths) {
    const rel = path.relative(root, resolveReal(p));
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) continue;
    const posix = rel.split(path.sep).join('/');
    const parent = path.posix.dirname(posix);
    own.push({ parent: parent === '.' ? '' : parent, name: path.posix.basename(posix) });
  }
  return own;
}

/**
 * Wraps a context ignore predicate so that it also leaves out `own` and the temp places kiln
 * stages an output in beside it (`.NAME.kiln-new-*`, `.NAME.kiln-old-*`, see exporter/place-path).
 */
export function leaveOutOwnPaths(
  ignore: (relPath: string) => boolean,
  own: readonly OwnPath[],
): (relPath: string) => boolean {
  if (own.length === 0) return ignore;
  return (rel) => own.some((p) => isOwn(rel, p)) || ignore(rel);
}

function isOwn(rel: string, own: OwnPath): boolean {
  let below = rel;
  if (own.parent !== '') {
    if (!rel.startsWith(`${own.parent}/`)) return false;
    below = rel.slice(own.parent.length + 1);
  }
  const slash = below.indexOf('/');
  const first = slash === -1 ? below : below.slice(0, slash);
  return first === own.name || first.startsWith(`.${own.name}.kiln-`);
}

/** realpath of `p`, or of its nearest existing ancestor with the rest appended. */
function resolveReal(p: string): string {
  const abs = path.resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = path.dirname(abs);
    if (parent === abs) return abs;
    return path.join(resolveReal(parent), path.basename(abs));
  }
}
