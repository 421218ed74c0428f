import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Writes a file so that readers (other kiln processes, or a later build after a kill -9) see
 * either the old content or the whole new content: a uniquely named temp sibling is written,
 * flushed to disk, then renamed over the target. The fsync makes the rename safe across a power
 * loss too, where an unflushed rename can otherwise leave an empty file under the real name.
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempSibling(file);
  try {
    const handle = await fsp.open(tmp, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/** A temp name beside `file`, unique across processes and calls (pid plus random bytes). */
export function tempSibling(file: string): string {
  const base = path.basename(file);
  return path.join(
    path.dirname(file),
    `.${base}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
}

/** Parses a JSON file; a missing, truncated or otherwise unparsable file reads as undefined. */
export async function readJsonFile(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
