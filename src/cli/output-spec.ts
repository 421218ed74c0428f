import * as path from 'node:path';
import { InputError } from '../errors.js';
import type { ImageOutputOptions, OutputCompression, OutputSpec } from '../solver/build-request.js';
import { parseBoolField, parseCsvFields } from './csv-fields.js';

const IMAGE_KEYS = ['compression', 'compression-level', 'force-compression', 'rewrite-timestamp'];

const KEYS_BY_TYPE: Record<string, string[]> = {
  oci: ['dest', 'tar', 'name', ...IMAGE_KEYS],
  docker: ['dest', 'name', ...IMAGE_KEYS],
  local: ['dest'],
  tar: ['dest'],
  image: ['name', 'push', ...IMAGE_KEYS],
  registry: ['name', 'push', ...IMAGE_KEYS],
};

/** buildx's names for the layer compressions kiln writes. */
const COMPRESSIONS: Record<string, OutputCompression['compression']> = {
  gzip: 'gzip',
  zstd: 'zstd',
  uncompressed: 'none',
};

const LEVELS: Record<OutputCompression['compression'], [number, number] | undefined> = {
  gzip: [0, 9],
  zstd: [1, 19],
  none: undefined,
};

/**
 * Parses one `-o/--output` value as buildx spells it. `-o DIR` is `type=local,dest=DIR` and `-o -`
 * a tar of the filesystem on stdout. Relative destinations are resolved against `cwd`.
 */
export function parseOutputSpec(text: string, tags: string[], cwd: string): OutputSpec {
  if (text.trim() === '') {
    throw new InputError('OUTPUT_INVALID', '--output: empty value', {
      hint: 'give a directory, - for stdout, or type=oci|docker|local|tar|image|registry,...',
    });
  }
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
    if (push) refusePushByDigest(names, `--output type=${type}`);
    return { type: 'image', names, push, ...imageOptions(type, fields) };
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
    return { type: 'oci', dest: resolved, tar, names, ...imageOptions(type, fields) };
  }
  if (type === 'docker') {
    return { type: 'docker', dest: resolved, names, ...imageOptions(type, fields) };
  }
  if (type === 'local') {
    if (resolved === '-') return { type: 'tar', dest: '-' };
    return { type: 'local', dest: resolved };
  }
  return { type: 'tar', dest: resolved };
}

/**
 * `compression=`, `compression-level=`, `force-compression=` and `rewrite-timestamp=`. As in
 * BuildKit, a level or a force without `compression=` applies to the default, gzip.
 */
function imageOptions(type: string, fields: Map<string, string>): ImageOutputOptions {
  const options: ImageOutputOptions = {};
  const rewrite = fields.get('rewrite-timestamp');
  if (rewrite !== undefined) {
    options.rewriteTimestamp = parseBoolField(rewrite, 'rewrite-timestamp', '--output');
  }

  const name = fields.get('compression');
  const levelText = fields.get('compression-level');
  const forceText = fields.get('force-compression');
  if (name === undefined && levelText === undefined && forceText === undefined) return options;
  const compression = COMPRESSIONS[(name ?? 'gzip').toLowerCase()];
  if (compression === undefined) {
    throw new InputError('OUTPUT_INVALID', `--output type=${type}: unknown compression "${name}"`, {
      hint: 'valid compressions: gzip, zstd, uncompressed',
    });
  }
  const result: OutputCompression = {
    compression,
    force: forceText === undefined ? false : parseBoolField(forceText, 'force-compression', '-o'),
  };
  const range = LEVELS[compression];
  // An uncompressed layer has no level; buildx ignores one there too.
  if (levelText !== undefined && range !== undefined) {
    const level = /^\d+$/.test(levelText) ? Number(levelText) : Number.NaN;
    if (!(level >= range[0] && level <= range[1])) {
      throw new InputError(
        'OUTPUT_INVALID',
        `--output type=${type}: compression-level must be ${range[0]}-${range[1]} for ` +
          `${compression}, got "${levelText}"`,
      );
    }
    result.level = level;
  }
  options.compression = result;
  return options;
}

/**
 * A pushed image is named by tag: its digest is known only once it is built, so a name that
 * pins one (`app@sha256:...`) would push every blob and then fail on the mismatch. Refused
 * before the build, as buildx does.
 */
export function refusePushByDigest(names: readonly string[], flag: string): void {
  const pinned = names.find((n) => n.includes('@'));
  if (pinned === undefined) return;
  throw new InputError('FLAG_INVALID', `${flag}: cannot push to a name with a digest: ${pinned}`, {
    hint: 'name the image by tag (registry/app:v1); the pushed digest is known once it is built',
  });
}
