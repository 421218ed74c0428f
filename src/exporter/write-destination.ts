import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ExportContext } from './export-context.js';

/**
 * Writes an archive to `dest` through a temp file renamed at the end (a failed export leaves no
 * partial file and keeps an earlier one), or to stdout for `-`.
 */
export async function writeToDestination(
  dest: string,
  ctx: ExportContext,
  write: (out: Writable) => Promise<unknown>,
): Promise<void> {
  void ctx;
  if (dest === '-') {
    await write(process.stdout);
    return;
  }
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const tmp = path.join(
    path.dirname(dest),
    `.${path.basename(dest)}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const out = fs.createWriteStream(tmp);
  try {
    await write(out);
    out.end();
    await finished(out);
    await fsp.rename(tmp, dest);
  } catch (err) {
    out.destroy();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}
