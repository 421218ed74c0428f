import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './command.js';
import { runKiln, runKilnAs } from './kiln.js';
import type { TestUser } from './users.js';

/**
 * Builds Dockerfiles into OCI layout directories with the real CLI, each in a numbered dir under
 * the work dir `work()` gives (context, cache and layout in it), as root or as a test user who
 * then owns that dir.
 */
export function layoutBuilder(work: () => string, progress: 'plain' | 'json') {
  let counter = 0;
  return async (dockerfile: string, files: Record<string, string> = {}, as?: TestUser) => {
    const dir = join(work(), `build-${++counter}`);
    const ctx = join(dir, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [name, content] of Object.entries(files)) await writeFile(join(ctx, name), content);
    const layout = join(dir, 'layout');
    if (as) await runCommand('chown', ['-R', `${as.uid}:${as.gid}`, dir]);
    const args = [
      'build',
      `--progress=${progress}`,
      '--cache-dir',
      join(dir, 'cache'),
      '-o',
      `type=oci,dest=${layout},tar=false`,
      ctx,
    ];
    const res = as ? await runKilnAs(as, args) : await runKiln(args);
    return { ...res, layout };
  };
}
