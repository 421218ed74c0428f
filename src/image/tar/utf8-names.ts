/**
 * File names that are not UTF-8. Docker copies them byte for byte; kiln keeps names as
 * JavaScript strings from the directory walk to the tar header, and Node decodes each invalid
 * byte of a name to U+FFFD, after which the name no longer opens the file (or, worse, names
 * another one). Until names travel as bytes, every walk refuses such a name with one typed error
 * that shows it escaped, instead of a stack trace, a skipped file or a renamed one.
 */
import { isUtf8 } from 'node:buffer';
import { readdirSync } from 'node:fs';
import { BuildError } from '../../errors.js';

const REPLACEMENT = '\uFFFD';

/** The name with every byte outside printable ASCII written as \xNN. */
export function escapeNameBytes(raw: Uint8Array): string {
  let out = '';
  for (const byte of raw) {
    const printable = byte >= 0x20 && byte < 0x7f && byte !== 0x5c;
    out += printable ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The error for a name that is not UTF-8; `shownPath` is already escaped. */
export function nameNotUtf8(shownPath: string, where: string): BuildError {
  return new BuildError(
    'PATH_NOT_UTF8',
    `${where}: the file name '${shownPath}' is not UTF-8, and kiln cannot carry its bytes yet`,
    { hint: 'rename the file, or leave it out of the build context with .dockerignore' },
  );
}

/**
 * Throws when one of `names` (as readdir returned them for `hostDir`) stands for a name that is
 * not UTF-8; other names of the directory (say, ones .dockerignore leaves out) are not looked
 * at. Cheap when none has U+FFFD in it, which is every directory of a sane tree. `shownDir` is
 * the directory as the user knows it ('' for the top), `where` says which walk.
 */
export function checkUtf8Names(
  hostDir: string,
  names: readonly string[],
  shownDir: string,
  where: string,
): void {
  const suspects = new Set(names.filter((name) => name.includes(REPLACEMENT)));
  if (suspects.size === 0) return;
  for (const raw of readdirSync(hostDir, { encoding: 'buffer' })) {
    if (isUtf8(raw) || !suspects.has(raw.toString('utf8'))) continue;
    const shown = escapeNameBytes(raw);
    throw nameNotUtf8(shownDir === '' ? shown : `${shownDir}/${shown}`, where);
  }
}
