/**
 * The reference workload (../shared/bench/node-app: a TypeScript service in a four-stage
 * Dockerfile whose RUN steps call `npm ci` against the npm registry) built by the real CLI on the
 * test Node base image: the image runs under runc, a rebuild with nothing changed is all cache
 * hits with the same manifest digest, and a one-file change reruns only the steps that see it.
 */
import assert from 'node:assert/strict';
import { appendFile, chmod, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushFixture } from './support/images.js';
import { jsonEvents, runKiln } from './support/kiln.js';
import { runcRun, umociUnpack } from './support/oci-tools.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const WORKLOAD = process.env.KILN_WORKLOAD_DIR ?? '/work/shared/bench/node-app';

// The proxy variables BuildKit passes to RUN without declaring them; kiln does the same, and keeps
// them out of the cache key. `--build-arg NAME` without a value takes it from kiln's environment.
const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'];

function proxyBuildArgs(): string[] {
  const names = PROXY_VARS.flatMap((n) => [n, n.toLowerCase()]);
  return names.filter((n) => process.env[n]).flatMap((n) => ['--build-arg', n]);
}

interface StepEvent {
  id: string;
  name: string;
  status: string;
}

/** The Dockerfile instruction steps of a run (not base pulls or exports), by name, last status. */
function instructionSteps(stderr: string): Map<string, string> {
  const steps = new Map<string, string>();
  for (const e of jsonEvents(stderr)) {
    if (e.type !== 'step') continue;
    const { name, status } = e as unknown as StepEvent;
    if (!/^\[[^\]]+ \d+\/\d+\] /.test(name) || / FROM /.test(name)) continue;
    steps.set(name, status);
  }
  return steps;
}

function resultDigest(stderr: string): string {
  const result = jsonEvents(stderr).find((e) => e.type === 'result');
  assert.ok(result, `a result event is emitted:\n${stderr.slice(-4000)}`);
  return String(result.digest);
}

describe('the reference workload', () => {
  let registry: TestRegistry;
  let nodeImage: string;
  let work: string;
  let context: string;
  let firstDigest: string;

  const build = async (layout: string) => {
    const res = await runKiln(
      [
        'build',
        '--progress=json',
        '--cache-dir',
        join(work, 'cache'),
        '--build-arg',
        `NODE_IMAGE=${nodeImage}`,
        ...proxyBuildArgs(),
        '-o',
        `type=oci,dest=${layout},tar=false`,
        '-t',
        'workload:v1',
        context,
      ],
      { timeoutMs: 600_000 },
    );
    assert.equal(res.code, 0, res.stderr.slice(-4000));
    return res;
  };

  before(async () => {
    registry = await startRegistry();
    nodeImage = await pushFixture('node', registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-workload-'));
    context = join(work, 'node-app');
    await cp(WORKLOAD, context, { recursive: true });
    // The shared copy is read-only; the one-file scenario appends to a source file.
    await chmod(join(context, 'src', 'route07.ts'), 0o644);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('builds an image that prints "ok" when run with --check', async () => {
    const layout = join(work, 'layout-cold');
    const res = await build(layout);
    firstDigest = resultDigest(res.stderr);
    const steps = instructionSteps(res.stderr);
    assert.equal(steps.get('[deps 4/4] RUN npm ci --no-audit --no-fund'), 'done');

    const bundle = join(work, 'bundle-cold');
    await umociUnpack(layout, 'v1', bundle);
    const run = await runcRun(bundle, ['node', 'dist/index.js', '--check']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n').filter((l) => l.startsWith('{'));
    const ok = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg);
    assert.equal(ok?.msg, 'ok', run.stdout);
    assert.equal(ok?.routes, 60);
  });

  it('reports every step cached on a rebuild with no change, with the same digest', async () => {
    assert.ok(firstDigest, 'the cold build ran');
    const res = await build(join(work, 'layout-noop'));
    const steps = instructionSteps(res.stderr);
    assert.equal(steps.size, 13, [...steps.keys()].join('\n'));
    const notCached = [...steps].filter(([, status]) => status !== 'cached');
    assert.deepEqual(notCached, []);
    assert.equal(resultDigest(res.stderr), firstDigest);
  });

  it('reruns only the steps that see a changed source file', async () => {
    assert.ok(firstDigest, 'the cold build ran');
    await appendFile(join(context, 'src', 'route07.ts'), '// one more line\n');
    const layout = join(work, 'layout-one-file');
    const res = await build(layout);
    const steps = instructionSteps(res.stderr);
    assert.equal(steps.size, 13, [...steps.keys()].join('\n'));
    const rerun = [...steps].filter(([, status]) => status !== 'cached').map(([name]) => name);
    assert.deepEqual(rerun.sort(), [
      '[build 3/4] COPY src ./src',
      '[build 4/4] RUN npm run build',
      '[stage-3 4/5] COPY --from=build /app/dist ./dist',
      '[stage-3 5/5] COPY package.json ./',
    ]);
    assert.ok(
      [...steps].every(([, status]) => status === 'cached' || status === 'done'),
      'the steps that ran finished',
    );
    assert.notEqual(resultDigest(res.stderr), firstDigest);

    const bundle = join(work, 'bundle-one-file');
    await umociUnpack(layout, 'v1', bundle);
    const compiled = await readFile(join(bundle, 'rootfs/app/dist/route07.js'), 'utf8');
    assert.match(compiled, /\/\/ one more line/);
  });
});
