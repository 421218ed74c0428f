import { KilnError } from '../errors.js';
import type { ErrorEvent } from '../events/events.js';

/**
 * The `error` event for any failure. A system error on a file (a permission, a full disk, a path
 * that is not there) is the machine's state, not a bug in kiln: it gets a stable code and names the
 * path, without a stack. Any other exception is a bug: code INTERNAL, with its stack.
 */
export function errorEvent(err: unknown): ErrorEvent {
  const known = err instanceof KilnError ? err : fileSystemError(err);
  if (known) {
    return {
      type: 'error',
      code: known.code,
      message: known.message,
      ...(known.location
        ? { file: known.location.file, line: known.location.line, column: known.location.column }
        : {}),
      ...(known.hint ? { hint: known.hint } : {}),
    };
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { type: 'error', code: 'INTERNAL', message };
}

/** What each system error code on a file means, and what the user can do about it. */
const FILE_ERRORS: Record<string, { what: string; hint: string }> = {
  EACCES: { what: 'permission denied', hint: 'check the permissions of the path and its parents' },
  EPERM: {
    what: 'operation not permitted',
    hint: 'check the permissions and attributes of the path',
  },
  ENOENT: { what: 'no such file or directory', hint: 'check that the path exists' },
  ENOTDIR: { what: 'a part of the path is not a directory', hint: 'check the path' },
  EISDIR: { what: 'is a directory', hint: 'give a file, not a directory' },
  ENOSPC: { what: 'no space left on the device', hint: 'free some disk space and build again' },
  EDQUOT: { what: 'disk quota exceeded', hint: 'free some space within the quota' },
  EROFS: { what: 'read-only filesystem', hint: 'choose a path on a writable filesystem' },
  ELOOP: {
    what: 'too many levels of symbolic links',
    hint: 'check the symbolic links on the path',
  },
  ENAMETOOLONG: { what: 'file name too long', hint: 'choose a shorter path' },
  EEXIST: { what: 'already exists', hint: 'remove it or choose another path' },
  EBUSY: { what: 'resource busy (a mount point?)', hint: 'choose a path that is not in use' },
  EXDEV: { what: 'crosses filesystems', hint: 'keep the paths on one filesystem' },
  EMFILE: { what: 'too many open files', hint: 'raise the open file limit (ulimit -n)' },
};

/** A Node system error on a file as a KilnError (code FILE_<errno>, exit 1), or undefined. */
export function fileSystemError(err: unknown): KilnError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const known = e.code === undefined ? undefined : FILE_ERRORS[e.code];
  // Only errors the system raised (they carry the call that failed) are the machine's state.
  if (!known || e.syscall === undefined) return undefined;
  const paths = [e.path, e.dest].filter((p): p is string => typeof p === 'string');
  const on = paths.length === 0 ? '' : ` ${paths.join(' -> ')}`;
  return new KilnError(`FILE_${e.code}`, `cannot ${e.syscall}${on}: ${known.what} (${e.code})`, 1, {
    hint: known.hint,
    cause: err,
  });
}
