import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Where a file output (an archive, `--iidfile`, a digest file) really goes, and how:
 * - `staged`: a regular file, or nothing yet. It is written beside `path` and renamed over it.
 *   For a symbolic link `path` is the link's final target, so the link stays and the file it
 *   points at gets the output: what Docker, buildx and kaniko do (they open the path, which
 *   follows the link), kept all or nothing.
 * - `inPlace`: a device or a pipe (`/dev/null`, a FIFO, `/proc/self/fd/1`). Such a file cannot be
 *   replaced by a rename (that would put a regular file where the device was); it is opened and
 *   written at the end, like stdout. `path` is the path as given, so /proc's fd links work.
 * - `socket`: a socket, which no one can open to write into.
 */
export type FileTarget =
  | { kind: 'staged'; path: string }
  | { kind: 'inPlace'; path: string }
  | { kind: 'socket'; path: string };

/** Symbolic links followed at most, as the kernel does (ELOOP beyond). */
const MAX_LINKS = 40;

export async function fileTarget(dest: string): Promise<FileTarget> {
  const info = await fsp.stat(dest).catch(() => undefined);
  if (info?.isSocket()) return { kind: 'socket', path: dest };
  if (info && !info.isFile() && !info.isDirectory()) return { kind: 'inPlace', path: dest };
  return { kind: 'staged', path: await finalPath(dest) };
}

/**
 * The path a chain of symbolic links at `dest` ends at (`dest` itself when it is no link). A
 * dangling link's target is where the output is made, as opening the link would make it.
 */
export async function finalPath(dest: string): Promise<string> {
  let at = path.resolve(dest);
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    const info = await fsp.lstat(at).catch(() => undefined);
    if (!info?.isSymbolicLink()) return at;
    at = path.resolve(path.dirname(at), await fsp.readlink(at));
  }
  throw Object.assign(new Error(`ELOOP: too many symbolic links, open '${dest}'`), {
    code: 'ELOOP',
    syscall: 'open',
    path: dest,
  });
}

/** Magic numbers (statfs f_type) of the kernel's own filesystems, where kiln makes no files. */
const KERNEL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x63677270, 'cgroup2'],
  [0x27e0eb, 'cgroup'],
  [0x64626720, 'debugfs'],
  [0x73636673, 'securityfs'],
]);

/**
 * The name of the kernel filesystem `dir` is on (`proc`, `sysfs`, ...), or undefined. Files and
 * directories cannot be made there (and Node's recursive mkdir loops forever under /proc).
 */
export async function kernelFilesystem(dir: string): Promise<string | undefined> {
  const info = await fsp.statfs(dir).catch(() => undefined);
  return info === undefined ? undefined : KERNEL_FILESYSTEMS.get(info.type);
}

/** Whether this process may write into the existing file `file`. */
export async function mayWrite(file: string): Promise<boolean> {
  return fsp.access(file, fs.constants.W_OK).then(
    () => true,
    () => false,
  );
}
