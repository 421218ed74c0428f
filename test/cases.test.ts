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

// Each case runs once per way of isolating RUN steps as root: they snapshot differently (user.
// or trusted. overlay xattrs), and a case passing in one says nothing of the other.
const ISOLATIONS = (process.env.KILN_CASES_ISOLATION ?? 'userns,chroot').split(',');

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
      const failures: string[] = [];
      const logs: string[] = [];
      for (const isolation of ISOLATIONS) {
        const result = await runCase(name, {
          baseRef,
          workDir: join(work, name, isolation),
          extraArgs: ['--isolation', isolation],
        });
        failures.push(...result.failures.map((f) => `[--isolation ${isolation}] ${f}`));
        if (result.failures.length > 0) logs.push(`[--isolation ${isolation}]`, ...result.logs);
      }
      const detail = failures.length > 0 ? `\n${logs.join('\n')}` : '';
      assert.deepEqual(failures, [], `${name} does not match its spec${detail}`);
    });
  }
});
