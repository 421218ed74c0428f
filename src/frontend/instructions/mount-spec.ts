/**
 * `RUN --mount=...` specs, parsed as BuildKit does: CSV fields of `key=value` (or bare boolean
 * keys), `type` defaulting to bind. Values stay unexpanded except where BuildKit expands them at
 * dispatch time (the dispatcher does that).
 */

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

export interface MountSpec {
  type: MountType;
  /** Mount point; for secret/ssh it may be absent (a default applies). */
  target?: string;
  source?: string;
  /** A stage name or image for bind/cache mounts. */
  from?: string;
  readOnly: boolean;
  /** cache: id (defaults to the target); secret/ssh: id. */
  id?: string;
  sharing: CacheSharing;
  mode?: number;
  uid?: number;
  gid?: number;
  required: boolean;
  /** tmpfs size in bytes. */
  size?: number;
  /** secret: expose it as this environment variable. */
  env?: string;
}

export class MountSpecError extends Error {}

/** Splits one CSV record like Go's encoding/csv (quotes group commas; `""` is a quote). */
export function splitCsv(value: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  let atStart = true;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (quoted) {
      if (ch === '"' && value[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
      continue;
    }
    if (ch === '"' && atStart) {
      quoted = true;
      atStart = false;
    } else if (ch === ',') {
      out.push(field);
      field = '';
      atStart = true;
    } else {
      if (ch === '"') throw new MountSpecError(`bare " in non-quoted field: ${value}`);
      field += ch;
      atStart = false;
    }
  }
  if (quoted) throw new MountSpecError(`extraneous or missing " in quoted field: ${value}`);
  out.push(field);
  return out;
}

function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  throw new MountSpecError(`invalid value for ${key}: ${value}`);
}

function parseUint(key: string, value: string, base: number): number {
  const re = base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(value)) throw new MountSpecError(`invalid value for ${key}: ${value}`);
  return Number.parseInt(value, base);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

function parseSize(value: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmg]?)i?b?$/i.exec(value);
  if (m === null) throw new MountSpecError(`invalid value for size: ${value}`);
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

export function parseMountSpec(value: string): MountSpec {
  const spec: MountSpec = { type: 'bind', readOnly: false, sharing: 'shared', required: false };
  let readWriteSet = false;
  const fields = splitCsv(value);

  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase().trim();
    const val = eq < 0 ? undefined : field.slice(eq + 1);
    if (key === 'type') {
      const t = val?.toLowerCase();
      if (t !== 'bind' && t !== 'cache' && t !== 'tmpfs' && t !== 'secret' && t !== 'ssh') {
        throw new MountSpecError(`unsupported mount type "${val ?? ''}"`);
      }
      spec.type = t;
    }
  }
  if (spec.type === 'secret' || spec.type === 'ssh') spec.readOnly = true;

  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase().trim();
    const val = eq < 0 ? undefined : field.slice(eq + 1);
    const need = (): string => {
      if (val === undefined)
        throw new MountSpecError(`invalid field '${field}' must be a key=value pair`);
      return val;
    };
    switch (key) {
      case 'type':
        break;
      case 'readonly':
      case 'ro':
        spec.readOnly = parseBool(key, val);
        readWriteSet = true;
        break;
      case 'readwrite':
      case 'rw':
        spec.readOnly = !parseBool(key, val);
        readWriteSet = true;
        break;
      case 'required':
        if (spec.type !== 'secret' && spec.type !== 'ssh') {
          throw new MountSpecError(`unexpected key '${key}' for mount type ${spec.type}`);
        }
        spec.required = parseBool(key, val);
        break;
      case 'target':
      case 'dst':
      case 'destination':
        spec.target = need();
        break;
      case 'source':
      case 'src':
        spec.source = need();
        break;
      case 'from':
        spec.from = need();
        break;
      case 'id':
        spec.id = need();
        break;
      case 'sharing': {
        const s = need().toLowerCase();
        if (s !== 'shared' && s !== 'private' && s !== 'locked') {
          throw new MountSpecError(`unsupported sharing value "${val}"`);
        }
        spec.sharing = s;
        break;
      }
      case 'mode':
        spec.mode = parseUint(key, need(), 8);
        break;
      case 'uid':
        spec.uid = parseUint(key, need(), 10);
        break;
      case 'gid':
        spec.gid = parseUint(key, need(), 10);
        break;
      case 'size':
        if (spec.type !== 'tmpfs')
          throw new MountSpecError(`unexpected key 'size' for mount type ${spec.type}`);
        spec.size = parseSize(need());
        break;
      case 'env':
        if (spec.type !== 'secret')
          throw new MountSpecError(`unexpected key 'env' for mount type ${spec.type}`);
        spec.env = need();
        break;
      default:
        throw new MountSpecError(`unexpected key '${key}' in '${field}'`);
    }
  }

  if (spec.type === 'cache' && !readWriteSet) spec.readOnly = false;
  if (spec.type === 'bind' && !readWriteSet) spec.readOnly = true;
  if (spec.target === undefined && spec.type !== 'secret' && spec.type !== 'ssh') {
    throw new MountSpecError('mount target is required');
  }
  if (
    spec.type === 'secret' &&
    spec.target === undefined &&
    spec.id === undefined &&
    spec.env === undefined
  ) {
    throw new MountSpecError('one of target, id or env is required for a secret mount');
  }
  return spec;
}
