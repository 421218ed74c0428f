import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { errorEvent } from './error-event.js';

/** The error a real call raises, to see how the CLI would report it. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  assert.fail('the call should have failed');
}

describe('the error event of a failure', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-error-event-'));
    await writeFile(join(dir, 'file'), 'x');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('names the path and the system code of a file that is not there, without a stack', async () => {
    const missing = join(dir, 'missing');
    const event = errorEvent(await failure(() => readFile(missing)));
    assert.equal(event.code, 'FILE_ENOENT');
    assert.equal(event.message, `cannot open ${missing}: no such file or directory (ENOENT)`);
    assert.doesNotMatch(event.message, /\n\s+at /);
    assert.ok(event.hint);
  });

  it('names both paths of a failed rename and says what the code means', async () => {
    const file = join(dir, 'file');
    const under = join(dir, 'file', 'below');
    const event = errorEvent(await failure(() => rename(file, under)));
    assert.equal(event.code, 'FILE_ENOTDIR');
    assert.match(event.message, new RegExp(`${file} -> ${under}: .*not a directory \\(ENOTDIR\\)`));
  });

  it('keeps the stack of an exception that is a bug in kiln, with code INTERNAL', () => {
    const event = errorEvent(new TypeError('x is not a function'));
    assert.equal(event.code, 'INTERNAL');
    assert.match(event.message, /TypeError: x is not a function\n\s+at /);
  });

  it('keeps a bug an error that only looks like a system error, with no failed call', () => {
    const fake = Object.assign(new Error('odd'), { code: 'ENOENT' });
    assert.equal(errorEvent(fake).code, 'INTERNAL');
  });
});
