import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { OCI_LAYOUT_FILE } from '../image/oci-layout.js';
import type { OutputSpec } from '../solver/build-request.js';
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
): Promise<void> {
  const targets = [...outputs.flatMap(outputTarget), ...resultFiles.map(resultTarget)];
  const seen = new Map<string, string>();
  for (const target of targets) {
    const other = seen.get(target.path);
    if (other !== undefined) {
      throw new InputError(
        'OUTPUT_CONFLICT',
        `${other} and ${target.label} write the same path ${target.path}`,
        { hint: 'give each output its own destination' },
      );
    }
    seen.set(target.path, target.label);
    await checkTarget(target);
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
  if (info && target.kind === 'file' && info.isDirectory()) {
    fail(`${target.path} is a directory`, 'give a file name, or remove the directory');
  }
  if (info && target.kind !== 'file') {
    if (!info.isDirectory()) fail(`${target.path} is not a directory`, 'give a directory');
    await mustWrite(target.path, fail);
    if (target.kind === 'layout') await mustBeLayout(target.path, fail);
    return;
  }

  const parent = path.dirname(target.path);
  const { dir, missing } = await nearestExisting(parent);
  if (missing && !target.makesParents) {
    fail(`its directory ${parent} does not exist`, 'make the directory first');
  }
  const dirInfo = await fsp.stat(dir);
  if (!dirInfo.isDirectory()) fail(`${dir} is not a directory`, 'fix the destination path');
  await mustWrite(dir, fail);
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

async function mustWrite(
  dir: string,
  fail: (reason: string, hint: string) => never,
): Promise<void> {
  try {
    await fsp.access(dir, fs.constants.W_OK | fs.constants.X_OK);
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
async function mustBeLayout(
  dir: string,
  fail: (reason: string, hint: string) => never,
): Promise<void> {
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
