/**
 * Automatic garbage collection: after a build that added to the cache, a cache over its size
 * limit (KILN_CACHE_MAX_SIZE) loses the entries used longest ago, never what that build used.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { jsonEvents, runKiln } from './support/kiln.js';

describe('cache size limit', () => {
  const env = useBusyboxRegistry('cache-gc');

  async function context(name: string, dockerfile: string): Promise<string> {
    const dir = join(env.work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  }

  function build(ctx: string, cache: string, limit?: string) {
    const vars = { ...process.env };
    if (limit === undefined) delete vars.KILN_CACHE_MAX_SIZE;
    else vars.KILN_CACHE_MAX_SIZE = limit;
    return runKiln(['build', '--progress=json', '--cache-dir', cache, ctx], { env: vars });
  }

  /** The status of the step whose name contains `text`. */
  function statusOf(stderr: string, text: string): unknown {
    const steps = jsonEvents(stderr).filter(
      (e) => e.type === 'step' && String(e.name).includes(text),
    );
    return steps.at(-1)?.status;
  }

  it('removes older entries past the limit and keeps what the build used', async () => {
    const cache = join(env.work, 'cache-limit');
    const a = await context('a', `FROM ${env.base}\nRUN echo a > /a\n`);
    const b = await context('b', `FROM ${env.base}\nRUN echo b > /b\n`);
    const first = await build(a, cache);
    assert.equal(first.code, 0, first.stderr);

    const limited = await build(b, cache, '1');
    assert.equal(limited.code, 0, limited.stderr);
    assert.equal(statusOf(limited.stderr, 'keep the cache within'), 'done', limited.stderr);

    const again = await build(b, cache, '1');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(statusOf(again.stderr, 'RUN echo b'), 'cached', 'the limited build kept its own');
    assert.equal(statusOf(again.stderr, 'keep the cache within'), undefined, 'nothing ran');

    const rebuilt = await build(a, cache);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.equal(statusOf(rebuilt.stderr, 'RUN echo a'), 'done', 'the older step was removed');
  });

  it('removes nothing with the limit off', async () => {
    const cache = join(env.work, 'cache-off');
    const a = await context('off-a', `FROM ${env.base}\nRUN echo off-a > /a\n`);
    const b = await context('off-b', `FROM ${env.base}\nRUN echo off-b > /b\n`);
    assert.equal((await build(a, cache, 'off')).code, 0);
    const second = await build(b, cache, 'off');
    assert.equal(second.code, 0, second.stderr);
    assert.equal(statusOf(second.stderr, 'keep the cache within'), undefined);
    const rebuilt = await build(a, cache, 'off');
    assert.equal(statusOf(rebuilt.stderr, 'RUN echo off-a'), 'cached');
  });

  it('refuses a limit that is not a size before building anything', async () => {
    const cache = join(env.work, 'cache-bad');
    const ctx = await context('bad', `FROM ${env.base}\nRUN echo bad > /bad\n`);
    const result = await build(ctx, cache, 'lots');
    assert.equal(result.code, 2, result.stderr);
    const error = jsonEvents(result.stderr).find((e) => e.type === 'error');
    assert.equal(error?.code, 'CACHE_MAX_SIZE_INVALID');
    assert.equal(statusOf(result.stderr, 'RUN echo bad'), undefined, 'no step started');
  });
});
