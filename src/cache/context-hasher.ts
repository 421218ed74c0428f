import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { goMatch, hasWildcard } from '../worker/fileops/path-match.js';

/**
 * The content digest of what a COPY selects from a directory: for every file below each matched
 * source, its path, type, permission bits, size, link target and bytes. Owners and mtimes are
 * left out (COPY from the context writes 0:0 and keeps mtimes, which Docker does not key on).
 * Ignored paths are skipped the same way the copy skips them.
 */
export async function hashSources(
  root: string,
  sources: string[],
  ignore: (relPath: string) => boolean,
): Promise<string> {
  const hash = createHash('sha256');
  for (const source of sources) {
    hash.update(`source\0${source}\0`);
    for (const rel of await expand(root, source)) {
      if (rel !== '' && ignore(rel)) continue;
      await hashTree(root, rel, ignore, hash, true);
    }
  }
  return `sha256:${hash.digest('hex')}`;
}

async function expand(root: string, source: string): Promise<string[]> {
  const parts = source.split('/').filter((p) => p !== '' && p !== '.');
  let prefixes: string[] = [''];
  for (const part of parts) {
    const next: string[] = [];
    for (const prefix of prefixes) {
      if (part === '..') {
        next.push(path.posix.dirname(prefix) === '.' ? '' : path.posix.dirname(prefix));
      } else if (!hasWildcard(part)) {
        next.push(path.posix.join(prefix, part.replaceAll('\\', '')));
      } else {
        const names = await fsp.readdir(path.join(root, prefix)).catch(() => [] as string[]);
        for (const name of names.sort())
          if (goMatch(part, name)) next.push(path.posix.join(prefix, name));
      }
    }
    prefixes = next;
  }
  return prefixes;
}

async function hashTree(
  root: string,
  rel: string,
  ignore: (relPath: string) => boolean,
  hash: Hash,
  top: boolean,
): Promise<void> {
  const full = path.join(root, rel);
  // A source named directly is followed when it is a symlink; links met inside are kept.
  const st = await (top ? fsp.stat(full) : fsp.lstat(full)).catch(() => undefined);
  if (!st) {
    hash.update(`missing\0${rel}\0`);
    return;
  }
  const mode = (st.mode & 0o7777).toString(8);
  if (st.isSymbolicLink()) {
    hash.update(`link\0${rel}\0${mode}\0${await fsp.readlink(full)}\0`);
  } else if (st.isDirectory()) {
    hash.update(`dir\0${rel}\0${mode}\0`);
    const names = (await fsp.readdir(full)).sort();
    for (const name of names) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (ignore(child)) continue;
      await hashTree(root, child, ignore, hash, false);
    }
  } else if (st.isFile()) {
    hash.update(`file\0${rel}\0${mode}\0${st.size}\0`);
    const content = createHash('sha256');
    for await (const chunk of fs.createReadStream(full)) content.update(chunk as Buffer);
    hash.update(content.digest('hex'));
  } else {
    hash.update(`special\0${rel}\0${mode}\0${st.rdev}\0`);
  }
}
