/** The file records of an unpacked root filesystem: what the comparison looks at, per path. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { getAttributeSync, listAttributesSync } from 'fs-xattr';

function typeOf(s) {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFIFO()) return 'fifo';
  if (s.isCharacterDevice()) return 'chardev';
  if (s.isBlockDevice()) return 'blockdev';
  return 'socket';
}

function sha256(path) {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', rej)
      .on('end', () => res(h.digest('hex')));
  });
}

/** Every path of a tree, keyed by its path inside the image. */
export async function describeTree(top) {
  const records = new Map();
  const inodes = new Map();
  async function walk(dir, rel) {
    for (const n of (await fsp.readdir(dir)).sort()) {
      const path = join(dir, n);
      const key = `${rel}/${n}`;
      const s = await fsp.lstat(path);
      const r = {
        type: typeOf(s),
        mode: (s.mode & 0o7777).toString(8).padStart(4, '0'),
        uid: s.uid,
        gid: s.gid,
        mtime: Math.floor(s.mtimeMs / 1000),
      };
      if (r.type === 'file') {
        r.size = s.size;
        r.sha256 = await sha256(path);
        if (s.nlink > 1) {
          const group = inodes.get(s.ino) ?? [];
          group.push(key);
          inodes.set(s.ino, group);
          r.ino = s.ino;
        }
      }
      if (r.type === 'chardev' || r.type === 'blockdev') r.rdev = s.rdev;
      if (r.type === 'symlink') r.target = await fsp.readlink(path);
      if (r.type !== 'symlink') {
        const xattrs = listAttributesSync(path).sort();
        r.xattrs = xattrs
          .map((x) => `${x}=${getAttributeSync(path, x).toString('base64')}`)
          .join(',');
      }
      records.set(key, r);
      if (r.type === 'dir') await walk(path, key);
    }
  }
  await walk(top, '');
  for (const r of records.values()) {
    if (r.ino !== undefined) r.hardlinks = inodes.get(r.ino).join(' ');
    delete r.ino;
  }
  return records;
}
