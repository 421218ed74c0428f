import * as path from 'node:path';
import { InputError } from '../errors.js';
import type { OutputSpec } from '../solver/build-request.js';
import { parseBoolField, parseCsvFields } from './csv-fields.js';

const KEYS_BY_TYPE: Record<string, string[]> = {
  oci: ['dest', 'tar', 'name'],
  docker: ['dest', 'name'],
  local: ['dest'],
  tar: ['dest'],
  image: ['name', 'push'],
  registry: ['name', 'push'],
};

/**
 * Parses one `-o/--output` value as buildx spells it. `-o DIR` is `type=local,dest=DIR` and `-o -`
 * a tar of the filesystem on stdout. Relative destinations are resolved against `cwd`.
 */
export function parseOutputSpec(text: string, tags: string[], cwd: string): OutputSpec {
  if (text === '-') return { type: 'tar', dest: '-' };
  if (!text.includes('=')) return { type: 'local', dest: path.resolve(cwd, text) };

  const fields = new Map<string, string>();
  const names: string[] = [];
  for (const [key, value] of parseCsvFields(text, '--output')) {
    if (key === 'name') names.push(...value.split(',').filter((n) => n !== ''));
    else fields.set(key, value);
  }

  const type = fields.get('type');
  if (type === undefined) {
    throw new InputError('OUTPUT_INVALID', `--output "${text}": missing type=`, {
      hint: 'valid types: oci, docker, local, tar, image, registry',
    });
  }
  const allowed = KEYS_BY_TYPE[type];
  if (allowed === undefined) {
    throw new InputError('OUTPUT_INVALID', `--output: unknown type "${type}"`, {
      hint: 'valid types: oci, docker, local, tar, image, registry',
    });
  }
  for (const key of fields.keys()) {
    if (key !== 'type' && !allowed.includes(key)) {
      throw new InputError('OUTPUT_INVALID', `--output type=${type}: unknown option "${key}"`, {
        hint: `valid options: ${allowed.join(', ')}`,
      });
    }
  }
  return buildSpec(type, fields, names.length > 0 ? names : tags, cwd);
}

function buildSpec(
  type: string,
  fields: Map<string, string>,
  names: string[],
  cwd: string,
): OutputSpec {
  if (type === 'image' || type === 'registry') {
    if (names.length === 0) {
      throw new InputError('OUTPUT_INVALID', `--output type=${type} needs name= or -t`);
    }
    const pushValue = fields.get('push');
    const push =
      type === 'registry' || (pushValue !== undefined && parseBoolField(pushValue, 'push', '-o'));
    return { type: 'image', names, push };
  }

  const dest = fields.get('dest');
  if (dest === undefined || dest === '') {
    throw new InputError('OUTPUT_INVALID', `--output type=${type} needs dest=`);
  }
  const resolved = dest === '-' ? '-' : path.resolve(cwd, dest);
  if (type === 'oci') {
    const tarValue = fields.get('tar');
    const tar = tarValue === undefined ? true : parseBoolField(tarValue, 'tar', '--output');
    if (!tar && resolved === '-') {
      throw new InputError('OUTPUT_INVALID', '--output type=oci,tar=false cannot write to stdout');
    }
    return { type: 'oci', dest: resolved, tar, names };
  }
  if (type === 'docker') return { type: 'docker', dest: resolved, names };
  if (type === 'local') {
    if (resolved === '-') return { type: 'tar', dest: '-' };
    return { type: 'local', dest: resolved };
  }
  return { type: 'tar', dest: resolved };
}
