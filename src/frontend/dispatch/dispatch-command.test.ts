import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildPlan, RunOp } from '../../graph/plan.js';
import { parseDockerfile } from '../dockerfile/index.js';
import { planBuild } from './plan-build.js';

async function plan(text: string): Promise<BuildPlan> {
  return planBuild(parseDockerfile(text, 'Dockerfile'), {
    buildArgs: new Map(),
    platform: { os: 'linux', architecture: 'amd64' },
    resolveImageConfig: async () => ({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  });
}

function runArgv(p: BuildPlan): string[][] {
  return p.stages[p.target]!.vertices.flatMap((v) =>
    v.op.kind === 'run' ? [(v.op as RunOp).argv] : [],
  );
}

describe('RUN with heredocs', () => {
  it('runs a heredoc that is the whole command as the script', async () => {
    const p = await plan('FROM base\nRUN <<EOF\necho ran > /marker\nmkdir -p /hd\nEOF\n');
    assert.deepEqual(runArgv(p), [['/bin/sh', '-c', 'echo ran > /marker\nmkdir -p /hd\n']]);
  });

  it('gives the shell a heredoc inside a longer command back with its body', async () => {
    const p = await plan('FROM base\nRUN cat <<EOF > /x\nhello $A\nEOF\n');
    assert.deepEqual(runArgv(p), [['/bin/sh', '-c', 'cat <<EOF > /x\nhello $A\nEOF']]);
  });

  it('puts every heredoc body back in order, quoting and <<- left to the shell', async () => {
    const text = "FROM base\nRUN cat <<-A >/a && cat <<'B' >/b\n\tone\nA\ntwo $X\nB\nRUN true\n";
    const [first, second] = runArgv(await plan(text));
    assert.deepEqual(first, [
      '/bin/sh',
      '-c',
      "cat <<-A >/a && cat <<'B' >/b\n\tone\nA\ntwo $X\nB",
    ]);
    assert.deepEqual(second, ['/bin/sh', '-c', 'true'], 'the next instruction is not swallowed');
  });
});
