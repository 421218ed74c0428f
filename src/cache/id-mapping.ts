import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';

/**
 * The cache keeps files with the owners they have on the host, and those stand for image owners
 * only under the user namespace mapping that wrote them: a rootless user's own uid is the image's
 * root, and the same file read by root's build (no mapping) is owned by that uid instead, so a
 * layer made from it gets wrong owners. The first build inside the namespaces records its mapping
 * in `<cacheDir>/id-mapping`; a build under another mapping is refused rather than mixing them.
 */
export async function checkIdMapping(cacheDir: string): Promise<void> {
  const ours = await currentMapping();
  if (ours === undefined) return;
  const file = path.join(cacheDir, 'id-mapping');
  const recorded = await fsp.readFile(file, 'utf8').catch(() => undefined);
  if (recorded === undefined) {
    await writeFileAtomic(file, `${ours}\n`);
    return;
  }
  if (recorded.trim() === ours) return;
  throw new InputError(
    'CACHE_ID_MAPPING_CHANGED',
    `the cache ${cacheDir} was made under another user id mapping (${recorded.trim()}) than ` +
      `this build's (${ours}); its files would give the image wrong owners`,
    {
      hint:
        'give each user its own --cache-dir (the default is under each home directory), ' +
        'or remove this cache directory',
    },
  );
}

/** This process's uid and gid maps, one line: `uid 0 1000 1,1 100000 65536; gid ...`. */
async function currentMapping(): Promise<string | undefined> {
  const read = async (kind: 'uid' | 'gid'): Promise<string | undefined> => {
    const text = await fsp.readFile(`/proc/self/${kind}_map`, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const lines = text
      .split('\n')
      .map((l) => l.trim().split(/\s+/).join(' '))
      .filter((l) => l !== '');
    return `${kind} ${lines.join(',')}`;
  };
  const uid = await read('uid');
  const gid = await read('gid');
  return uid === undefined || gid === undefined ? undefined : `${uid}; ${gid}`;
}
