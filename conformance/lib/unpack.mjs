/**
 * Unpacks a docker-archive image with GNU tar, one layer at a time, and merges the layers here
 * (not with kiln's code): an opaque marker empties the directory below it, `.wh.NAME` removes
 * NAME, a non-directory replaces whatever was there, a directory onto a directory merges and
 * takes the upper metadata.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import {
  getAttributeSync,
  listAttributesSync,
  removeAttributeSync,
  setAttributeSync,
} from 'fs-xattr';
import { run } from './process.mjs';

// Directory times are set once the whole layer is out: a layer may list a directory's children
// long after the directory itself (the busybox fixture does), and GNU tar would otherwise set
// the time when it leaves the directory and let a later child change it again.
const TAR_X = ['-x', '-p', '--same-owner', '--numeric-owner', '--delay-directory-restore'];
TAR_X.push('--xattrs', '--xattrs-include=*');

/** Returns the image config JSON, the merged root filesystem and the layer count. */
export async function unpackArchive(archive, dir) {
  const outer = join(dir, 'archive');
  await fsp.mkdir(outer, { recursive: true });
  await run('tar', ['-x', '-f', archive, '-C', outer]);
  const manifest = JSON.parse(await fsp.readFile(join(outer, 'manifest.json'), 'utf8'));
  if (manifest.length !== 1) throw new Error(`${archive}: ${manifest.length} images, want 1`);
  const config = JSON.parse(await fsp.readFile(join(outer, manifest[0].Config), 'utf8'));
  const merged = join(dir, 'rootfs');
  await fsp.mkdir(merged);
  for (const [i, layer] of manifest[0].Layers.entries()) {
    const layerDir = join(dir, `layer-${i}`);
    await fsp.mkdir(layerDir);
    // GNU tar detects gzip/zstd compression by itself when reading a file.
    await run('tar', [...TAR_X, '-f', join(outer, layer), '-C', layerDir]);
    await applyLayer(layerDir, merged);
    await fsp.rm(layerDir, { recursive: true, force: true });
  }
  await fsp.rm(outer, { recursive: true, force: true });
  return { image: config, rootfs: merged, layerCount: manifest[0].Layers.length };
}

/** Moves one extracted layer onto the merged tree, applying the OCI whiteout rules. */
async function applyLayer(layerDir, mergedDir) {
  const names = await fsp.readdir(layerDir);
  if (names.includes('.wh..wh..opq')) {
    for (const n of await fsp.readdir(mergedDir)) {
      await fsp.rm(join(mergedDir, n), { recursive: true, force: true });
    }
  }
  for (const n of names) {
    if (n.startsWith('.wh.') && n !== '.wh..wh..opq') {
      await fsp.rm(join(mergedDir, n.slice(4)), { recursive: true, force: true });
    }
  }
  for (const n of names) {
    if (n.startsWith('.wh.')) continue;
    const src = join(layerDir, n);
    const dst = join(mergedDir, n);
    const s = await fsp.lstat(src);
    const d = await fsp.lstat(dst).catch(() => undefined);
    if (s.isDirectory() && d?.isDirectory()) {
      await applyLayer(src, dst);
      await copyMeta(src, dst, s);
      continue;
    }
    if (d) await fsp.rm(dst, { recursive: true, force: true });
    await fsp.rename(src, dst);
    if (s.isDirectory()) await stripWhiteouts(dst);
  }
}

/** A directory new in this layer has nothing below it to hide: its markers are dropped. */
async function stripWhiteouts(dir) {
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name.startsWith('.wh.')) await fsp.rm(path, { recursive: true, force: true });
    else if (entry.isDirectory()) await stripWhiteouts(path);
  }
}

async function copyMeta(src, dst, s) {
  await fsp.lchown(dst, s.uid, s.gid);
  await fsp.chmod(dst, s.mode & 0o7777);
  for (const name of listAttributesSync(dst)) {
    if (!name.startsWith('security.')) removeAttributeSync(dst, name);
  }
  for (const name of listAttributesSync(src))
    setAttributeSync(dst, name, getAttributeSync(src, name));
  await fsp.utimes(dst, s.atime, s.mtime);
}
