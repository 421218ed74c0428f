import { InputError } from '../errors.js';

/**
 * Splits a buildx-style option string (`type=oci,dest=out.tar,name="a,b"`) into key/value pairs.
 * Values may be double-quoted to hold commas, as buildx's CSV reader allows.
 */
export function parseCsvFields(text: string, flag: string): [string, string][] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') {
      quoted = !quoted;
    } else if (ch === ',' && !quoted) {
      fields.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quoted) throw new InputError('FLAG_INVALID', `${flag}: unterminated quote in "${text}"`);
  fields.push(current);

  return fields
    .filter((field) => field.trim() !== '')
    .map((field) => {
      const eq = field.indexOf('=');
      if (eq < 0) return [field.trim().toLowerCase(), ''];
      return [field.slice(0, eq).trim().toLowerCase(), field.slice(eq + 1)];
    });
}

/** Reads a boolean option value as buildx does: empty means true. */
export function parseBoolField(value: string, key: string, flag: string): boolean {
  const v = value.toLowerCase();
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new InputError('FLAG_INVALID', `${flag}: ${key} must be true or false, got "${value}"`);
}
