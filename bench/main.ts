/**
 * `npm run bench`: times kiln against BuildKit (dockerd 20.10) and buildah on the reference
 * workload (cold, noop, one-file), a 1 GiB layer export and a 50,000-file context, each build a
 * whole process, the tools alternating within every round. Prints a table and writes
 * docs/bench.md and docs/bench.svg.
 *
 * Environment: KILN_BENCH_RUNS (default 5), KILN_BENCH_SKIP=buildkit,buildah (an anchor that is
 * not skipped must run, or the bench fails), KILN_BENCH_SCENARIOS (comma list, default all),
 * KILN_BENCH_WORK (scratch directory, default a new one under /tmp), KILN_BENCH_NO_DOCS=1.
 */

import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pushFixture } from '../test/support/images.js';
import { startRegistry } from '../test/support/registry.js';
import {
  BuildahBuilder,
  type Builder,
  BuildKitBuilder,
  installed,
  KilnBuilder,
} from './builders.js';
import { type Measurement, measure, run } from './measure.js';
import { barChart, markdownTable, type Sample, summarize, textTable } from './report.js';
import {
  GENERATOR,
  largeContext,
  layerExportContext,
  nodeAppContext,
  touchRoute07,
} from './workloads.js';

const NODE_FLOOR = 'node -e 0';
const ALL_SCENARIOS = ['cold', 'noop', 'one-file', 'layer-export', 'large-context'];
const ANCHORS = ['buildkit', 'buildah'];

// This file runs as dist/bench/main.js.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function listEnv(name: string, fallback: string[]): string[] {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return fallback;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function rotate<T>(list: T[], by: number): T[] {
  const n = by % list.length;
  return [...list.slice(n), ...list.slice(0, n)];
}

async function main(): Promise<void> {
  const runs = Number(process.env.KILN_BENCH_RUNS ?? 5);
  const skip = new Set(listEnv('KILN_BENCH_SKIP', []));
  const scenarios = listEnv('KILN_BENCH_SCENARIOS', ALL_SCENARIOS);
  for (const s of scenarios) {
    if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}`);
  }
  const anchors = ANCHORS.filter((a) => !skip.has(a));
  for (const a of anchors) {
    if (!installed(a)) {
      throw new Error(
        `${a} is not installed: run scripts/install-bench-deps.sh, or set KILN_BENCH_SKIP=${a}`,
      );
    }
  }

  const work = process.env.KILN_BENCH_WORK ?? (await mkdtemp('/tmp/kiln-bench-'));
  const kilnBin = await snapshotKiln(work);
  const registry = await startRegistry();
  const builders: Builder[] = [new KilnBuilder(kilnBin, work)];
  if (anchors.includes('buildkit')) builders.push(new BuildKitBuilder(work));
  if (anchors.includes('buildah')) builders.push(new BuildahBuilder(work));
  const samples: Sample[] = [];

  try {
    const nodeImage = await pushFixture('node', registry.host);
    const buildArgs = { NODE_IMAGE: nodeImage };
    log(
      `work dir ${work}, registry ${registry.host}, ${runs} runs, tools ${builders.map((b) => b.name).join(', ')}`,
    );
    for (const b of builders) await b.start();

    const contexts = new Map<string, string>();
    for (const b of builders) {
      contexts.set(b.name, await nodeAppContext(join(work, `ctx-${b.name}`)));
    }
    const layerCtx = await layerExportContext(join(work, 'ctx-shared'));
    const bigCtx = scenarios.includes('large-context')
      ? await largeContext(join(work, 'ctx-shared'))
      : '';
    const layerData = join(work, 'layer-data');

    const record = (scenario: string, tool: string, m: Measurement) => {
      samples.push({
        scenario,
        tool,
        wallMs: m.wallMs,
        cpuMs: m.cpuMs,
        peakRssKb: m.peakRssKb,
        ownRssKb: m.peakOwnRssKb,
      });
      const cpu = `${(m.cpuMs / 1000).toFixed(2)} s CPU`;
      log(
        `${scenario} ${tool}: ${(m.wallMs / 1000).toFixed(2)} s, ${cpu}, ${(m.peakRssKb / 1024).toFixed(0)} MiB`,
      );
    };
    const wants = (s: string) => scenarios.includes(s);
    let edit = 0;

    for (let round = 0; round < runs; round++) {
      log(`round ${round + 1}/${runs}`);
      const order = rotate(builders, round);
      for (const b of order) await b.reset();
      const app = (b: Builder) => ({
        context: contexts.get(b.name) as string,
        buildArgs,
        tag: 'bench/node-app',
      });

      // The node-app scenarios depend on each other (noop needs the cold cache), so every round
      // starts from an empty cache; a builder's cold build also pulls the base from the registry.
      const nodeApp = wants('cold') || wants('noop') || wants('one-file');
      if (nodeApp) {
        for (const b of order) {
          const m = await b.build(app(b));
          if (wants('cold')) record('cold', b.name, m);
        }
      }
      if (wants('noop')) {
        for (const b of order) record('noop', b.name, await b.build(app(b)));
        // The floor of any fresh Node process here, with this environment (NODE_EXTRA_CA_CERTS,
        // when set, is parsed at every start).
        record('noop', NODE_FLOOR, await measure(process.execPath, ['-e', '0']));
      }
      if (wants('one-file')) {
        edit++;
        for (const b of order) {
          await touchRoute07(contexts.get(b.name) as string, edit);
          record('one-file', b.name, await b.build(app(b)));
        }
      }

      if (wants('layer-export')) {
        const input = { context: layerCtx, buildArgs, tag: 'bench/layer-export', noCache: true };
        // Without the node-app builds the base is not pulled yet; that is not what this measures.
        if (!nodeApp) for (const b of order) await b.build(input);
        for (const b of order) record('layer-export', b.name, await b.build(input));
        // The anchors of the export itself: writing the same tree on the host, then tar | pigz.
        await rm(layerData, { recursive: true, force: true });
        await writeFile(join(work, 'gen.mjs'), GENERATOR);
        const gen = await measure(process.execPath, [join(work, 'gen.mjs'), layerData]);
        if (gen.code !== 0) throw new Error(`generating the layer data failed:\n${gen.stderr}`);
        record('layer-export', 'generate (host)', gen);
        const out = join(work, 'layer.tar.gz');
        const tar = await measure('/bin/sh', [
          '-c',
          `tar -C '${layerData}' -cf - . | pigz -c > '${out}'`,
        ]);
        if (tar.code !== 0) throw new Error(`tar | pigz failed:\n${tar.stderr}`);
        record('layer-export', 'tar|pigz', tar);
        await rm(out, { force: true });
        await rm(layerData, { recursive: true, force: true });
      }

      if (wants('large-context')) {
        const input = { context: bigCtx, buildArgs, tag: 'bench/large-context' };
        for (const b of order) await b.build(input);
        for (const b of order) record('large-context', b.name, await b.build(input));
      }
    }
  } catch (err) {
    // What was measured before the failure is still worth seeing.
    const tools = [...builders.map((b) => b.name), NODE_FLOOR, 'generate (host)', 'tar|pigz'];
    process.stdout.write(textTable(summarize(samples, scenarios, tools)));
    throw err;
  } finally {
    for (const b of builders) await b.stop().catch((e) => log(`stopping ${b.name}: ${e}`));
    await registry.stop();
    if (!process.env.KILN_BENCH_WORK) await rm(work, { recursive: true, force: true });
  }

  const tools = [...builders.map((b) => b.name), NODE_FLOOR, 'generate (host)', 'tar|pigz'];
  const rows = summarize(samples, scenarios, tools);
  process.stdout.write(textTable(rows));
  if (process.env.KILN_BENCH_NO_DOCS) return;

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`;
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const versions = await toolVersions(builders.map((b) => b.name));
  await writeFile(
    join(repoRoot, 'docs', 'bench.svg'),
    barChart(rows, `kiln vs BuildKit and buildah: median wall time (${runs} runs)`),
  );
  await writeFile(
    join(repoRoot, 'docs', 'bench.md'),
    benchDoc(markdownTable(rows), { runs, machine, when, versions, skip: [...skip] }),
  );
  log('wrote docs/bench.md and docs/bench.svg');
}

/**
 * Copies the built CLI (dist/src, package.json, a link to node_modules) into the work dir, so that
 * every run times the same kiln even if the checkout is rebuilt while the bench runs.
 */
async function snapshotKiln(work: string): Promise<string> {
  const dir = join(work, 'kiln');
  await rm(dir, { recursive: true, force: true });
  await cp(join(repoRoot, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  await cp(join(repoRoot, 'package.json'), join(dir, 'package.json'));
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'dist', 'src', 'cli', 'kiln.mjs');
}

async function toolVersions(tools: string[]): Promise<string[]> {
  const out = [
    `kiln ${process.env.npm_package_version ?? ''} on Node ${process.version}`.replace('  ', ' '),
  ];
  if (tools.includes('buildkit')) {
    const v = await run('/usr/sbin/dockerd', ['--version']).catch(() => 'dockerd ?');
    out.push(`${v.trim()} (BuildKit built in)`);
  }
  if (tools.includes('buildah')) {
    out.push((await run('/usr/bin/buildah', ['--version']).catch(() => 'buildah ?')).trim());
  }
  return out;
}

interface DocInfo {
  runs: number;
  machine: string;
  when: string;
  versions: string[];
  skip: string[];
}

function benchDoc(table: string, info: DocInfo): string {
  const skipped = info.skip.length > 0 ? `\nSkipped anchors: ${info.skip.join(', ')}.\n` : '';
  return `# Benchmarks

Written by \`npm run bench\` (bench/main.ts) on ${info.when} UTC: ${info.machine}.
${info.versions.map((v) => `- ${v}`).join('\n')}
${skipped}
![median wall time per scenario](bench.svg)

${table}

## What is measured

Every build is one whole process, timed from spawn to exit (kiln started through its bin, as
\`npx kiln\` starts it), ${info.runs} runs per scenario and tool;
the table shows medians (and the range). The tools alternate within every round, in an order
that rotates from round to round, so drift on the machine spreads over all of them.

- **cold**: the reference workload (\`/work/shared/bench/node-app\`: four stages, two \`npm ci\`,
  a TypeScript compile) with an empty cache; the Node base image is pulled from a registry on
  loopback. The \`npm ci\` steps reach the npm registry, so this row includes network time.
- **noop**: the same build again with nothing changed.
- **one-file**: after appending a line to \`src/route07.ts\`; \`COPY src\`, \`RUN npm run build\`
  and the final stage's last two \`COPY\` steps run again.
- **layer-export**: \`--no-cache\` build of a \`RUN\` that writes 1 GiB in 20,000 files (half
  random bytes, half text), so the timing is dominated by turning that tree into a layer.
  *generate (host)* is the same generator run directly on the host and *tar|pigz* is
  \`tar -c | pigz\` of its output: together they are what the step costs without a builder.
- **large-context**: a rebuild with nothing changed of a context of 50,000 files copied by
  \`COPY . .\`, i.e. the cost of checking a large context.

Outputs: kiln writes an OCI layout directory each time (\`-o type=oci,tar=false\`), BuildKit
stores into dockerd's image store and buildah (\`bud --layers\`, chroot isolation) into its
containers-storage, which is each tool's usual local result.

The noop group also times \`node -e 0\` in the same environment: the start of any fresh Node
process on this machine (with \`NODE_EXTRA_CA_CERTS\` set, Node parses that bundle at every start;
kiln's bin moves the variable out of Node's way before Node starts, see docs/cli.md).

Peak RSS is sampled from /proc every 100 ms as the sum over the process tree: for kiln and
buildah the CLI and everything it started (sandbox helpers, the RUN processes); for BuildKit the
docker client plus dockerd with containerd, its shims and the RUN processes, so it includes the
daemon's resident size before the build started. Pages shared between processes are counted in
each of them. \`/usr/bin/time -v\` is not used: it reports the largest single process only.
*own RSS* is the same sum over kiln's own processes only (the CLI and its namespaced child),
without the RUN steps they start (npm, tsc), which are the workload's and not the builder's.

*CPU s* is the user + system time of the command and every process under it that was waited
for (the bench's \`cutime\` and \`cstime\` in /proc/self/stat before and after): for kiln and
buildah the whole build, for BuildKit only the docker client, since the daemon does the work. On
a shared machine it is steadier than the wall time.
`;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
