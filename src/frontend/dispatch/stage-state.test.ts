import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildPlan, RunOp } from '../../graph/plan.js';
import type { ImageConfig } from '../../image/oci-types.js';
import { parseDockerfile } from '../dockerfile/index.js';
import { planBuild } from './plan-build.js';
import { expansionEnv, type StageState } from './stage-state.js';

// Of an ENV and an ARG of one name, whichever is set last is what steps see (BuildKit adds a
// build arg to the step environment where its ARG stands); the image config keeps the ENV.

const IMAGES: Record<string, ImageConfig['config']> = {
  base: { Env: ['PATH=/bin'] },
  upstream: { Env: ['PATH=/bin', 'HELLO=UPSTREAM'] },
};

async function plan(text: string, buildArgs: Record<string, string> = {}): Promise<BuildPlan> {
  return planBuild(parseDockerfile(text, 'Dockerfile'), {
    buildArgs: new Map(Object.entries(buildArgs)),
    platform: { os: 'linux', architecture: 'amd64' },
    resolveImageConfig: async (ref) => ({
      architecture: 'amd64',
      os: 'linux',
      config: IMAGES[ref]!,
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  });
}

function runEnvs(p: BuildPlan): string[][] {
  return p.stages[p.target]!.vertices.flatMap((v) =>
    v.op.kind === 'run' ? [(v.op as RunOp).env] : [],
  );
}

const finalEnv = (p: BuildPlan) => p.stages[p.target]!.config.config?.Env ?? [];

describe('build args and ENV of the same name', () => {
  it('lets an ARG declared after an ENV inherited from a stage win in RUN', async () => {
    const text = 'FROM base AS up\nENV HELLO=UPSTREAM\nFROM up\nARG HELLO\nRUN echo $HELLO\n';
    const p = await plan(text, { HELLO: 'WORLD' });
    const [env] = runEnvs(p);
    assert.ok(env!.includes('HELLO=WORLD'), env!.join(' '));
    assert.ok(!env!.includes('HELLO=UPSTREAM'));
    assert.deepEqual(finalEnv(p), ['PATH=/bin', 'HELLO=UPSTREAM'], 'the config keeps the ENV');
  });

  it('lets an ARG win over an ENV of the base image, in expansion too', async () => {
    const p = await plan('FROM upstream\nARG HELLO\nWORKDIR /$HELLO\nRUN true\n', {
      HELLO: 'WORLD',
    });
    assert.equal(p.stages[0]!.config.config?.WorkingDir, '/WORLD');
    assert.ok(runEnvs(p)[0]!.includes('HELLO=WORLD'));
  });

  it('keeps the inherited ENV when the ARG gets no value', async () => {
    const p = await plan('FROM upstream\nARG HELLO\nRUN echo $HELLO\n');
    assert.ok(runEnvs(p)[0]!.includes('HELLO=UPSTREAM'));
  });

  it('lets a later ENV hide the ARG again, and keeps the ARG out of the config', async () => {
    const p = await plan('FROM base\nENV X=env1\nARG X=arg\nRUN a\nENV X=env2\nRUN b\n');
    const [first, second] = runEnvs(p);
    assert.ok(first!.includes('X=arg') && !first!.includes('X=env1'), first!.join(' '));
    assert.ok(second!.includes('X=env2') && !second!.includes('X=arg'), second!.join(' '));
    assert.deepEqual(finalEnv(p), ['PATH=/bin', 'X=env2']);
  });

  it('carries an ARG that hides an ENV into a stage that starts FROM it', async () => {
    const p = await plan('FROM base AS a\nENV X=1\nARG X=2\nFROM a\nRUN true\n');
    assert.ok(runEnvs(p)[0]!.includes('X=2'));
  });

  it('gives expansion the ENV value unless the ARG came later', () => {
    const state = {
      config: { Env: ['A=env', 'B=env'] },
      args: new Map([
        ['A', 'arg'],
        ['B', 'arg'],
      ]),
      argsOverEnv: new Set(['B']),
    } as unknown as StageState;
    const env = expansionEnv(state);
    assert.deepEqual([env.get('A'), env.get('B')], ['env', 'arg']);
  });
});
