/**
 * One test per folder of ../shared/cases: inputs that other image builders got wrong, each built
 * by the real CLI from the test registry's busybox and checked against its spec.json (and
 * spec2.json after second.sh) with GNU tar and umoci as the readers.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { casesDir, listCaseNames, runCase } from './support/case-runner.js';
import { pushFixture } from './support/images.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

let names: string[] = [];
let missing: Error | undefined;
try {
  names = listCaseNames();
} catch (err) {
  missing = err as Error;
}

describe('shared cases', () => {
  let registry: TestRegistry;
  let baseRef: string;
  let work: string;

  before(async () => {
    if (missing) return;
    registry = await startRegistry();
    baseRef = await pushFixture('busybox', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-cases-'));
  });
  after(async () => {
    await registry?.stop();
    if (work && !process.env.KILN_KEEP_CASES) await rm(work, { recursive: true, force: true });
  });

  it(`finds the case folders in ${casesDir}`, () => {
    if (missing) throw missing;
    assert.ok(names.length > 0);
  });

  for (const name of names) {
    it(name, async () => {
      const result = await runCase(name, { baseRef, workDir: join(work, name) });
      const detail = result.failures.length > 0 ? `\n${result.logs.join('\n')}` : '';
      assert.deepEqual(result.failures, [], `${name} does not match its spec${detail}`);
    });
  }
});
