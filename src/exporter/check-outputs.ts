import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { CacheSpec } from '../cache/cache-transfer.js';
import { InputError } from '../errors.js';
import { OCI_LAYOUT_FILE } from '../image/oci-layout.js';
import type { OutputSpec } from '../solver/build-request.js';
import { finalPath, kernelFilesystem, mayWrite } from './file-target.js';
import type { ResultFile } from './result-file.js';

/** A destination the build will write, as checkOutputs sees it. */
interface Target {
  /** How the user asked for it: `-o type=docker,dest=...`, `--iidfile ...`. */
  label: string;
  path: string;
  kind: 'file' | 'dir' | 'layout';
  /** Whether missing parent directories are made (else the parent must exist). */
  makesParents: boolean;
}

/**
 * Checks, before anything is built, that every output and result file can be written where it
 * is asked for: the destination is of the right kind, and the directory it goes in (or the
 * nearest existing one, where missing ones are made) is writable. A build that could not export
 * would otherwise run to the end and fail there. Checked with this process's own rights, so root
 * passes permission bits (not a read-only filesystem). What changes during the build is still
 * caught at export, and then nothing is written either.
 */
export async function checkOutputs(
  outputs: readonly OutputSpec[],
  resultFiles: readonly ResultFile[],
  cacheTo: readonly CacheSpec[] = [],
): Promise<void> {
  const targets = [
    ...outputs.flatMap(outputTarget),
    ...resultFiles.map(resultTarget),
    ...cacheTo.flatMap(cacheTarget),
  ];
  const seen = new Map<string, string>();
  const dirs: { key: string; label: string }[] = [];
  for (const target of targets) {
    // A link and the file it points at are one destination.
    const key = await finalPath(target.path).catch(() => target.path);
    if (target.kind !== 'file') dirs.push({ key, label: target.label });
    const other = seen.get(key);
    // Devices and pipes are written in place, one output after the other: they may be shared.
    if (other !== undefined && !(await isDeviceOrPipe(key))) {
      throw new InputError(
        'OUTPUT_CONFLICT',
        `${other} and ${target.label} write the same path ${target.path}`,
        { hint: 'give each output its own destination' },
      );
    }
    seen.set(key, target.label);
  }
  await checkNesting(seen, dirs);
  for (const target of targets) await checkTarget(target);
}

/**
 * A destination inside another output's directory (`--iidfile L/index.json` beside
 * `-o type=oci,dest=L,tar=false`, or a local output inside another) would overwrite part of it,
 * or fail half-way when the outputs are put in place.
 */
async function checkNesting(
  seen: Map<string, string>,
  dirs: { key: string; label: string }[],
): Promise<void> {
  for (const dir of dirs) {
    for (const [key, label] of seen) {
      if (!key.startsWith(`${dir.key}${path.sep}`) || (await isDeviceOrPipe(key))) continue;
      throw new InputError('OUTPUT_CONFLICT', `${label} writes inside the output of ${dir.label}`, {
        hint: 'give each output its own destination, outside the others',
      });
    }
  }
}

function outputTarget(output: OutputSpec): Target[] {
  if (output.type === 'image' || output.dest === '-') return [];
  const dest = path.resolve(output.dest);
  const label = `-o type=${output.type},dest=${output.dest}`;
  if (output.type === 'local') return [{ label, path: dest, kind: 'dir', makesParents: true }];
  if (output.type === 'oci' && !output.tar) {
    return [{ label, path: dest, kind: 'layout', makesParents: true }];
  }
  return [{ label, path: dest, kind: 'file', makesParents: true }];
}

function cacheTarget(spec: CacheSpec): Target[] {
  if (spec.type !== 'local') return [];
  const label = `--cache-to type=local,dest=${spec.dir}`;
  return [{ label, path: path.resolve(spec.dir), kind: 'layout', makesParents: true }];
}

function resultTarget(file: ResultFile): Target {
  return {
    label: `${file.flag} ${file.path}`,
    path: path.resolve(file.path),
    kind: 'file',
    makesParents: file.parentMode !== undefined,
  };
}

async function checkTarget(target: Target): Promise<void> {
  const fail = (reason: string, hint: string): never => {
    throw new InputError('OUTPUT_UNWRITABLE', `cannot write ${target.label}: ${reason}`, { hint });
  };
  const info = await fsp.stat(target.path).catch(() => undefined);
  if (target.kind === 'file') {
    await checkFile(target.path, info, target.makesParents, fail);
    return;
  }
  if (info) {
    if (!info.isDirectory()) fail(`${target.path} is not a directory`, 'give a directory');
    await notKernel(target.path, fail);
    await mustWrite(target.path, fail);
    if (target.kind === 'layout') await mustBeLayout(target.path, fail);
    return;
  }
  await checkParent(target.path, target.makesParents, fail);
}

/**
 * A file destination: a device or pipe must be writable (it is written in place), a regular file
 * goes where its symbolic links end, beside which kiln writes its temp file; an existing file
 * kiln may write in a directory it may not is written in place.
 */
async function checkFile(
  dest: string,
  info: fs.Stats | undefined,
  makesParents: boolean,
  fail: Fail,
): Promise<void> {
  if (info?.isDirectory())
    fail(`${dest} is a directory`, 'give a file name, or remove the directory');
  if (info?.isSocket()) fail(`${dest} is a socket`, 'give a file, a device or a pipe');
  if (info && !info.isFile()) {
    await mustWrite(dest, fail, fs.constants.W_OK);
    return;
  }
  const final = await finalPath(dest).catch((err: unknown) => {
    return fail(`${dest}: ${(err as NodeJS.ErrnoException).code}`, 'fix the symbolic links');
  });
  await notKernel(info ? final : path.dirname(final), fail);
  if (info && (await mayWrite(final))) return;
  await checkParent(final, makesParents, fail);
}

/** The directory `dest` goes in (or the nearest existing one, if kiln makes the rest) is writable. */
async function checkParent(dest: string, makesParents: boolean, fail: Fail): Promise<void> {
  const parent = path.dirname(dest);
  const { dir, missing } = await nearestExisting(parent);
  if (missing && !makesParents) {
    fail(`its directory ${parent} does not exist`, 'make the directory first');
  }
  const dirInfo = await fsp.stat(dir);
  if (!dirInfo.isDirectory()) fail(`${dir} is not a directory`, 'fix the destination path');
  await notKernel(dir, fail);
  await mustWrite(dir, fail);
}

/** /proc, /sys and the like take no new files (and Node's recursive mkdir loops under /proc). */
async function notKernel(at: string, fail: Fail): Promise<void> {
  const { dir } = await nearestExisting(at);
  const name = await kernelFilesystem(dir);
  if (name !== undefined) {
    fail(`${dir} is on the kernel's ${name} filesystem`, 'choose a destination on a real disk');
  }
}

/** The directory itself or its nearest existing ancestor, and whether any was missing. */
async function nearestExisting(dir: string): Promise<{ dir: string; missing: boolean }> {
  let at = dir;
  let missing = false;
  for (;;) {
    const there = await fsp.lstat(at).then(
      () => true,
      () => false,
    );
    if (there || path.dirname(at) === at) return { dir: at, missing };
    missing = true;
    at = path.dirname(at);
  }
}

async function isDeviceOrPipe(file: string): Promise<boolean> {
  const info = await fsp.stat(file).catch(() => undefined);
  return info !== undefined && !info.isFile() && !info.isDirectory() && !info.isSocket();
}

type Fail = (reason: string, hint: string) => never;

async function mustWrite(
  dir: string,
  fail: Fail,
  mode = fs.constants.W_OK | fs.constants.X_OK,
): Promise<void> {
  try {
    await fsp.access(dir, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const reason =
      code === 'EROFS'
        ? `${dir} is on a read-only filesystem (EROFS)`
        : `${dir} is not writable (${code})`;
    fail(reason, 'choose a destination kiln may write, or fix its permissions');
  }
}

/** An existing directory given as an OCI layout must be one, or empty of a layout's files. */
async function mustBeLayout(dir: string, fail: Fail): Promise<void> {
  const marker = await fsp.readFile(path.join(dir, OCI_LAYOUT_FILE), 'utf8').catch(() => undefined);
  if (marker !== undefined && !/"imageLayoutVersion"\s*:\s*"1\.0\.0"/.test(marker)) {
    fail(`${dir}/${OCI_LAYOUT_FILE} is not an OCI layout 1.0.0 marker`, 'give another directory');
  }
  const index = await fsp.readFile(path.join(dir, 'index.json'), 'utf8').catch(() => undefined);
  if (index === undefined) return;
  try {
    const parsed = JSON.parse(index) as { schemaVersion?: unknown; manifests?: unknown };
    if (parsed.schemaVersion === 2 && Array.isArray(parsed.manifests)) return;
  } catch {}
  fail(`${dir}/index.json is not an OCI image index`, 'give another directory');
}
