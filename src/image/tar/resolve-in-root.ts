/**
 * Resolves a path inside a root directory the way the container will see it: symlinks are
 * followed with the root standing in for '/', and nothing can lead outside the root. Used for
 * every parent directory of a layer entry, so a symlink in the layer (or a lower layer) cannot
 * redirect a write to the host.
 */
import { lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { ExtractError } from '../errors.js';

const MAX_SYMLINKS = 40;

export interface ResolveOptions {
  /** Create missing directories (mode 0755) on the way; otherwise a missing one is an error. */
  create: boolean;
  /** Called with each directory this call created (absolute host path). */
  onCreate?: (path: string) => void;
}

function escapeError(
  entryPath: string,
  detail: string,
  code: 'LAYER_PATH_ESCAPE' | 'LAYER_LINK_ESCAPE' = 'LAYER_PATH_ESCAPE',
): ExtractError {
  return new ExtractError(
    code,
    `layer entry '${entryPath}' leads outside the target directory: ${detail}`,
    entryPath,
  );
}

/**
 * The host path of directory `dir` (components relative to the root), with each component
 * resolved inside `root`. `entryPath` is only for error messages.
 */
export function resolveDirInRoot(
  root: string,
  dir: string[],
  entryPath: string,
  options: ResolveOptions,
): string {
  const resolved: string[] = [];
  const pending = [...dir].reverse();
  let links = 0;

  while (pending.length > 0) {
    const component = pending.pop()!;
    if (component === '' || component === '.') continue;
    if (component === '..') {
      if (resolved.length === 0) throw escapeError(entryPath, "a '..' climbs above the root");
      resolved.pop();
      continue;
    }
    const hostPath = join(root, ...resolved, component);
    const stats: Stats | undefined = lstatSync(hostPath, { throwIfNoEntry: false });

    if (stats === undefined) {
      if (!options.create) {
        throw new ExtractError(
          'LAYER_INVALID_PATH',
          `layer entry '${entryPath}': '${[...resolved, component].join('/')}' does not exist`,
          entryPath,
        );
      }
      mkdirSync(hostPath, { mode: 0o755 });
      options.onCreate?.(hostPath);
      resolved.push(component);
    } else if (stats.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw escapeError(entryPath, 'too many levels of symbolic links');
      const target = readlinkSync(hostPath);
      if (target.startsWith('/')) resolved.length = 0;
      for (const part of target.split('/').reverse()) pending.push(part);
    } else if (stats.isDirectory()) {
      resolved.push(component);
    } else {
      throw new ExtractError(
        'LAYER_INVALID_PATH',
        `layer entry '${entryPath}': '${[...resolved, component].join('/')}' is not a directory`,
        entryPath,
      );
    }
  }
  return join(root, ...resolved);
}

/**
 * Splits an in-layer path into components, refusing absolute paths, NULs and '..' components.
 * Legitimate layers never need them, and refusing is simpler to trust than cleaning.
 */
export function layerPathComponents(
  path: string,
  entryPath: string,
  what: 'path' | 'link target' = 'path',
): string[] {
  const code = what === 'path' ? 'LAYER_PATH_ESCAPE' : 'LAYER_LINK_ESCAPE';
  if (path.startsWith('/')) throw escapeError(entryPath, `the ${what} '${path}' is absolute`, code);
  if (path.includes('\0')) {
    throw new ExtractError('LAYER_INVALID_PATH', `layer ${what} has a NUL byte`, entryPath);
  }
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..'))
    throw escapeError(entryPath, `the ${what} '${path}' contains '..'`, code);
  return parts;
}
