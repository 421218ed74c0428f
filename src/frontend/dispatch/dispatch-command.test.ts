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

  it('runs a whole-command heredoc starting with #! as a script file at /dev/pipes', async () => {
    const p = await plan('FROM base\nRUN <<-"PY"\n#!/usr/bin/python3\n\tprint($HOME)\nPY\n');
    const vertex = p.stages[p.target]!.vertices[0]!;
    const op = vertex.op as RunOp;
    assert.deepEqual(op.argv, ['/bin/sh', '-c', '/dev/pipes/PY']);
    assert.deepEqual(op.heredocScript, {
      name: 'PY',
      content: '#!/usr/bin/python3\nprint($HOME)\n',
    });
    assert.equal(vertex.createdBy, 'RUN /bin/sh -c /dev/pipes/PY # buildkit');
    assert.match(vertex.name, /RUN <<-"PY" \(#!\/usr\/bin\/python3\.\.\.\)$/);
  });

  it('names a heredoc step after its command line, not the body', async () => {
    const p = await plan('FROM base\nRUN <<EOF\necho one\nEOF\nRUN cat <<EOF >/x\nbody\nEOF\n');
    const [first, second] = p.stages[p.target]!.vertices;
    assert.match(first!.name, /RUN <<EOF \(echo one\)$/);
    assert.equal((first!.op as RunOp).heredocScript, undefined, 'no shebang: no script file');
    assert.match(second!.name, /RUN cat <<EOF >\/x$/);
  });
});
