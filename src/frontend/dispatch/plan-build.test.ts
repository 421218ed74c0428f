import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildPlan, RunOp } from '../../graph/plan.js';
import { hostAmd64Level } from '../../image/amd64-level.js';
import type { ImageConfig } from '../../image/oci-types.js';
import { hostPlatform, parsePlatform } from '../../image/platform.js';
import { parseDockerfile } from '../dockerfile/index.js';
import { planBuild } from './plan-build.js';

const PLATFORM = { os: 'linux', architecture: 'amd64' };

/** Base image configs by reference; the frontend only ever sees a base's config. */
function configs(map: Record<string, ImageConfig['config']>) {
  return async (ref: string): Promise<ImageConfig> => {
    const config = map[ref];
    if (!config) throw new Error(`no such image ${ref}`);
    return { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } };
  };
}

const BASE = { base: { Env: ['PATH=/bin'], Cmd: ['sh'] } };

async function plan(text: string, buildArgs: Record<string, string> = {}, target?: string) {
  return planBuild(parseDockerfile(text, 'Dockerfile'), {
    buildArgs: new Map(Object.entries(buildArgs)),
    platform: PLATFORM,
    resolveImageConfig: configs(BASE),
    ...(target === undefined ? {} : { target }),
  });
}

function runs(p: BuildPlan, stage = p.target): RunOp[] {
  return p.stages[stage]!.vertices.map((v) => v.op).filter((o): o is RunOp => o.kind === 'run');
}

describe('planBuild()', () => {
  it('lets one ENV instruction see the values from before it', async () => {
    const p = await plan('FROM base\nENV A=1\nENV A=2 B=$A\n');
    assert.deepEqual(p.stages[0]!.config.config?.Env, ['PATH=/bin', 'A=2', 'B=1']);
  });

  it('keeps global ARGs out of a stage unless it declares them again', async () => {
    const p = await plan('ARG V=global\nFROM base\nRUN echo $V\nARG V\nRUN echo $V\n');
    const [first, second] = runs(p);
    assert.ok(!first!.env.some((e) => e.startsWith('V=')));
    assert.ok(second!.env.includes('V=global'));
  });

  it('lets --build-arg override an ARG default and ENV shadow an ARG', async () => {
    const p = await plan('FROM base\nARG V=default\nARG W=w\nENV W=env\nRUN true\n', { V: 'cli' });
    const [run] = runs(p);
    assert.ok(run!.env.includes('V=cli'));
    assert.ok(run!.env.includes('W=env') && !run!.env.includes('W=w'));
  });

  it('carries build args into a stage that starts FROM another stage', async () => {
    const p = await plan('FROM base AS a\nARG X=1\nFROM a\nRUN true\n');
    assert.ok(runs(p)[0]!.env.includes('X=1'));
  });

  it('expands FROM with global ARGs and the platform ARGs', async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile text, not a JS template.
    const p = await plan('ARG IMG=base\nFROM ${IMG}\nARG TARGETARCH\nRUN echo $TARGETARCH\n');
    assert.deepEqual(p.stages[0]!.base, { kind: 'image', ref: 'base', platform: PLATFORM });
    assert.ok(runs(p)[0]!.env.includes('TARGETARCH=amd64'));
  });

  it('spells an arm64/v8 target as BuildKit does: linux/arm64 with an empty variant', async () => {
    const p = await planBuild(
      parseDockerfile(
        'FROM base\nARG TARGETPLATFORM\nARG TARGETVARIANT\nENV P=$TARGETPLATFORM V=$TARGETVARIANT\n',
        'Dockerfile',
      ),
      {
        buildArgs: new Map(),
        platform: parsePlatform('linux/arm64/v8'),
        resolveImageConfig: configs(BASE),
      },
    );
    const env = p.stages[0]!.config.config?.Env ?? [];
    assert.ok(env.includes('P=linux/arm64'), env.join(' '));
    assert.ok(env.includes('V='), env.join(' '));
    assert.equal(p.stages[0]!.config.variant, undefined);
  });

  it('lets RUN build for an x86-64 level this CPU has (linux/amd64/v2)', async (t) => {
    if (hostPlatform().architecture !== 'amd64' || hostAmd64Level() < 2) {
      t.skip('needs an x86-64-v2 host');
      return;
    }
    const p = await planBuild(parseDockerfile('FROM base\nRUN true\n', 'Dockerfile'), {
      buildArgs: new Map(),
      platform: parsePlatform('linux/amd64/v2'),
      resolveImageConfig: configs(BASE),
    });
    assert.equal(runs(p).length, 1);
  });

  it('refuses a STOPSIGNAL that names no signal, at its word', async () => {
    await assert.rejects(plan('FROM base\nSTOPSIGNAL NOTASIG\n'), {
      code: 'STOPSIGNAL_INVALID',
      location: { file: 'Dockerfile', line: 2, column: 12 },
    });
    const p = await plan('FROM base\nARG S=SIGQUIT\nSTOPSIGNAL $S\n');
    assert.equal(p.stages[0]!.config.config?.StopSignal, 'SIGQUIT');
  });

  it('refuses EXPOSE ports past 65535 and ranges that run backwards, at the word', async () => {
    for (const [ports, column] of [
      ['99999', 8],
      ['80 70000-70002/udp', 11],
      ['5-1', 8],
      ['1-20000000', 8],
    ] as const) {
      await assert.rejects(plan(`FROM base\nEXPOSE ${ports}\n`), {
        code: 'EXPOSE_INVALID',
        location: { file: 'Dockerfile', line: 2, column },
      });
    }
    const p = await plan('FROM base\nEXPOSE 65535 1-3/udp\n');
    assert.deepEqual(Object.keys(p.stages[0]!.config.config?.ExposedPorts ?? {}).sort(), [
      '1/udp',
      '2/udp',
      '3/udp',
      '65535/tcp',
    ]);
  });

  it('plans only the stages the target needs', async () => {
    const text =
      'FROM base AS a\nRUN a\nFROM base AS b\nRUN b\nFROM base AS c\nCOPY --from=a / /\n';
    const p = await plan(text);
    assert.equal(p.stages[1], undefined, 'stage b is skipped');
    assert.deepEqual(p.stages[2]!.dependsOn, [0]);
  });

  it('clears an inherited CMD when ENTRYPOINT is set, but not a CMD set in the stage', async () => {
    const inherited = await plan('FROM base\nENTRYPOINT ["/app"]\n');
    assert.equal(inherited.stages[0]!.config.config?.Cmd, null);
    const own = await plan('FROM base\nCMD ["x"]\nENTRYPOINT ["/app"]\n');
    assert.deepEqual(own.stages[0]!.config.config?.Cmd, ['x']);
  });

  it('runs the base image ONBUILD triggers right after FROM and does not inherit them', async () => {
    const p = await planBuild(parseDockerfile('FROM trig\nRUN after\n', 'Dockerfile'), {
      buildArgs: new Map(),
      platform: PLATFORM,
      resolveImageConfig: configs({ trig: { Env: ['PATH=/bin'], OnBuild: ['RUN first'] } }),
    });
    const argv = runs(p).map((r) => r.argv.at(-1));
    assert.deepEqual(argv, ['first', 'after']);
    assert.equal(p.stages[0]!.config.config?.OnBuild, undefined);
  });

  it("counts a build arg that an ONBUILD ARG of a built stage's base declares as consumed", async () => {
    const text = 'FROM trig AS built\nRUN after\nFROM base\nCOPY --from=built /x /x\n';
    const p = await planBuild(parseDockerfile(text, 'Dockerfile'), {
      buildArgs: new Map([
        ['OB', 'cli'],
        ['NOPE', '1'],
      ]),
      platform: PLATFORM,
      resolveImageConfig: configs({
        ...BASE,
        trig: { Env: ['PATH=/bin'], OnBuild: ['ARG OB=default', 'RUN echo $OB'] },
      }),
    });
    assert.deepEqual(
      p.warnings.map((w) => w.message),
      ['one or more build args were not consumed: NOPE'],
    );
  });

  it('writes history lines as BuildKit does, with build args counted in RUN', async () => {
    const p = await plan('FROM base\nARG A=1\nRUN make\nWORKDIR app\n');
    const history = p.stages[0]!.history.map((h) => h.createdBy);
    assert.deepEqual(history, ['ARG A=1', 'RUN |1 A=1 /bin/sh -c make # buildkit', 'WORKDIR /app']);
  });

  it('reports an unknown --target with the stage names as a hint', async () => {
    await assert.rejects(
      plan('FROM base AS one\n', {}, 'two'),
      (err: Error & { hint?: string }) => {
        assert.match(err.message, /two/);
        assert.match(err.hint ?? '', /one/);
        return true;
      },
    );
  });

  it('warns about build args that no ARG of the built stages declares', async () => {
    const p = await plan('FROM base\nARG USED\n', { USED: '1', UNUSED: '2', HTTP_PROXY: 'p' });
    assert.deepEqual(
      p.warnings.map((w) => w.message),
      ['one or more build args were not consumed: UNUSED'],
    );
  });

  it('refuses a RUN in a stage of another architecture at its instruction', async () => {
    const foreign = { os: 'linux', architecture: hostArch() === 'arm64' ? 'amd64' : 'arm64' };
    const run = planBuild(parseDockerfile('FROM base\nRUN true\n', 'Dockerfile'), {
      buildArgs: new Map(),
      platform: foreign,
      resolveImageConfig: configs(BASE),
    });
    await assert.rejects(run, (err: Error & { code?: string; location?: { line: number } }) => {
      assert.equal(err.code, 'PLATFORM_CANNOT_RUN');
      assert.equal(err.location?.line, 2);
      return true;
    });
    const copyOnly = planBuild(parseDockerfile('FROM base\nCOPY a /a\n', 'Dockerfile'), {
      buildArgs: new Map(),
      platform: foreign,
      resolveImageConfig: configs(BASE),
    });
    await assert.doesNotReject(copyOnly);
  });

  it('treats a declared proxy ARG as any build arg, an undeclared one as proxy env only', async () => {
    const p = await plan('FROM base\nARG HTTP_PROXY\nRUN true\n', {
      HTTP_PROXY: 'http://p:1',
      FTP_PROXY: 'ftp://p:2',
    });
    const [run] = runs(p);
    assert.ok(run!.env.includes('HTTP_PROXY=http://p:1'));
    assert.deepEqual(run!.proxyEnv, ['FTP_PROXY=ftp://p:2']);
    const history = p.stages[0]!.history.map((h) => h.createdBy);
    assert.equal(history.at(-1), 'RUN |1 HTTP_PROXY=http://p:1 /bin/sh -c true # buildkit');
  });

  it('keeps MAINTAINER as written: no expansion, quotes kept', async () => {
    const p = await plan('FROM base\nENV WHO=x\nMAINTAINER $WHO "q" \\"y\n');
    assert.equal(p.stages[0]!.config.author, '$WHO "q" \\"y');
    assert.equal(p.stages[0]!.history.at(-1)?.createdBy, 'MAINTAINER $WHO "q" \\"y');
  });

  it('reads a number in FROM and RUN --mount from= as an image, in COPY --from as a stage', async () => {
    const text =
      'FROM base AS first\nFROM 0 AS second\nRUN --mount=from=0,target=/m true\n' +
      'COPY --from=0 /a /a\n';
    const p = await planBuild(parseDockerfile(text, 'Dockerfile'), {
      buildArgs: new Map(),
      platform: PLATFORM,
      resolveImageConfig: configs({ ...BASE, '0': BASE.base }),
    });
    const second = p.stages[1]!;
    assert.deepEqual(second.base, { kind: 'image', ref: '0', platform: PLATFORM });
    const [run] = runs(p, 1);
    assert.equal(run!.mounts?.[0]?.type, 'bind');
    assert.deepEqual((run!.mounts![0] as { from: unknown }).from, {
      kind: 'image',
      ref: '0',
      platform: PLATFORM,
    });
    const copy = second.vertices.map((v) => v.op).find((o) => o.kind === 'copy');
    assert.deepEqual((copy as { from: unknown }).from, { kind: 'stage', stage: 0 });
  });

  it('gives an image the platform of its base image, its parent stage or FROM --platform', async () => {
    // As a registry index does: the config of the manifest for the platform asked for.
    const byPlatform = async (_ref: string, platform: { os: string; architecture: string }) => ({
      architecture: platform.architecture,
      os: platform.os,
      config: BASE.base,
      rootfs: { type: 'layers' as const, diff_ids: [] },
    });
    const text =
      'FROM --platform=linux/s390x base AS foreign\nFROM foreign AS child\nCOPY a /a\n' +
      'FROM --platform=linux/ppc64le scratch AS empty\nCOPY a /a\n';
    const platformOf = async (target: string) => {
      const p = await planBuild(parseDockerfile(text, 'Dockerfile'), {
        buildArgs: new Map(),
        platform: PLATFORM,
        resolveImageConfig: byPlatform,
        target,
      });
      const { os, architecture } = p.stages[p.target]!.config;
      return `${os}/${architecture}`;
    };
    assert.equal(await platformOf('foreign'), 'linux/s390x');
    assert.equal(await platformOf('child'), 'linux/s390x');
    assert.equal(await platformOf('empty'), 'linux/ppc64le');
  });
});

function hostArch(): string {
  return process.arch === 'arm64' ? 'arm64' : 'amd64';
}
