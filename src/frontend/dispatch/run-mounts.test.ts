import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunMount, RunOp } from '../../graph/plan.js';
import type { ImageConfig } from '../../image/oci-types.js';
import { parseDockerfile } from '../dockerfile/index.js';
import { planBuild } from './plan-build.js';

const PLATFORM = { os: 'linux', architecture: 'amd64' };

async function plan(text: string, buildArgs: Record<string, string> = {}) {
  return planBuild(parseDockerfile(text, 'Dockerfile'), {
    buildArgs: new Map(Object.entries(buildArgs)),
    platform: PLATFORM,
    resolveImageConfig: async (): Promise<ImageConfig> => ({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  });
}

async function mountsOf(text: string, buildArgs: Record<string, string> = {}): Promise<RunMount[]> {
  const p = await plan(text, buildArgs);
  const run = p.stages[p.target]!.vertices.map((v) => v.op).find((o) => o.kind === 'run');
  return (run as RunOp).mounts ?? [];
}

describe('RUN --mount in the plan', () => {
  it('leaves mounts out of a RUN without any, so its cache key is unchanged', async () => {
    const p = await plan('FROM base\nRUN true\n');
    assert.equal('mounts' in p.stages[0]!.vertices[0]!.op, false);
  });

  it('fills in BuildKit defaults for every type', async () => {
    const mounts = await mountsOf(
      'FROM base\nWORKDIR /w\nRUN --mount=target=src --mount=type=cache,target=/c ' +
        '--mount=type=tmpfs,target=/t --mount=type=secret,id=tok ' +
        '--mount=type=secret,id=e,env=E --mount=type=ssh --mount=type=ssh,id=x true\n',
    );
    assert.deepEqual(mounts, [
      { type: 'bind', target: '/w/src', source: '', from: { kind: 'context' }, readOnly: true },
      {
        type: 'cache',
        target: '/c',
        id: '/c',
        sharing: 'shared',
        source: '',
        readOnly: false,
        mode: 0o755,
        uid: 0,
        gid: 0,
      },
      { type: 'tmpfs', target: '/t' },
      {
        type: 'secret',
        id: 'tok',
        target: '/run/secrets/tok',
        required: false,
        mode: 0o400,
        uid: 0,
        gid: 0,
      },
      { type: 'secret', id: 'e', env: 'E', required: false, mode: 0o400, uid: 0, gid: 0 },
      {
        type: 'ssh',
        id: 'default',
        target: '/run/buildkit/ssh_agent.0',
        required: false,
        mode: 0o600,
        uid: 0,
        gid: 0,
      },
      {
        type: 'ssh',
        id: 'x',
        target: '/run/buildkit/ssh_agent.1',
        required: false,
        mode: 0o600,
        uid: 0,
        gid: 0,
      },
    ]);
  });

  it('expands build args in mount fields and resolves from= to a stage it depends on', async () => {
    const p = await plan(
      'FROM base AS deps\nRUN true\nFROM base\nARG DIR=/opt\n' +
        'RUN --mount=type=bind,from=deps,source=$DIR,target=$DIR/m,rw true\n',
      { DIR: '/srv' },
    );
    const run = p.stages[1]!.vertices[0]!.op as RunOp;
    assert.deepEqual(run.mounts, [
      {
        type: 'bind',
        target: '/srv/m',
        source: '/srv',
        from: { kind: 'stage', stage: 0 },
        readOnly: false,
      },
    ]);
    assert.ok(p.stages[1]!.dependsOn.includes(0));
  });

  it('takes a from= that is no stage as an image', async () => {
    const mounts = await mountsOf('FROM base\nRUN --mount=from=alpine:3,target=/a true\n');
    assert.deepEqual((mounts[0] as { from: unknown }).from, {
      kind: 'image',
      ref: 'alpine:3',
      platform: PLATFORM,
    });
  });

  it('refuses a stage mounting itself', async () => {
    await assert.rejects(
      plan('FROM base AS me\nRUN --mount=from=me,target=/a true\n'),
      /cannot mount itself/,
    );
  });
});
