/**
 * Runs the cases of ../shared/cases (or KILN_CASES_DIR) against the real CLI: each case folder is
 * a build context with harness files beside it (README.md in that folder describes the format).
 * The runner copies the context, runs setup.sh as the caller (root in CI, so owner changes work),
 * points `FROM busybox` at the test registry, builds an OCI layout and checks it with
 * case-checks.ts; a case with second.sh is built a second time with the same cache.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CaseSpec, checkImage, unknownSpecKeys } from './case-checks.js';
import { readCaseImage } from './case-image.js';
import { type CommandResult, runCommand } from './command.js';
import { runKiln } from './kiln.js';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test/support/, so the checkout is three levels up.
const repoRoot = resolve(here, '..', '..', '..');

export const casesDir = process.env.KILN_CASES_DIR ?? resolve(repoRoot, '..', 'shared', 'cases');

/** Files of a case folder that belong to the harness, not to the build context. */
export const HARNESS_FILES = [
  'README.md',
  'setup.sh',
  'second.sh',
  'spec.json',
  'spec2.json',
  'SKIP_BUILDKIT',
];

/** The case folders, sorted; throws when the cases are missing (a missing case never skips). */
export function listCaseNames(dir = casesDir): string[] {
  if (!existsSync(dir)) throw new Error(`shared cases missing: ${dir} (set KILN_CASES_DIR)`);
  const names = readdirSync(dir)
    .filter((n) => statSync(join(dir, n)).isDirectory())
    .sort();
  if (names.length === 0) throw new Error(`no case folders in ${dir}`);
  return names;
}

export interface CaseEnv {
  /** The busybox image of the test registry, e.g. `127.0.0.1:5000/busybox:latest`. */
  baseRef: string;
  /** A scratch directory of this case's own; it is filled and left for the caller to remove. */
  workDir: string;
  /** Extra kiln build flags (e.g. `--isolation chroot`). */
  extraArgs?: string[];
}

export interface CaseResult {
  /** Every mismatch, prefixed with the build it came from; empty when the case passes. */
  failures: string[];
  /** kiln's output of each build, for diagnosing failures. */
  logs: string[];
}

const FROM_BUSYBOX = /^(\s*FROM\s+(?:--\S+\s+)*)busybox(?=\s|$)/gim;

/** Points every `FROM busybox` of the context's Dockerfiles at the test registry's image. */
async function rewriteFrom(ctx: string, baseRef: string): Promise<void> {
  for (const name of await readdir(ctx)) {
    if (!name.startsWith('Dockerfile')) continue;
    const path = join(ctx, name);
    const text = await readFile(path, 'utf8');
    const rewritten = text.replace(FROM_BUSYBOX, `$1${baseRef}`);
    // Rewriting only what changed keeps the mtimes setup.sh may have set on the others.
    if (rewritten !== text) await writeFile(path, rewritten);
  }
}

async function readSpec(path: string): Promise<CaseSpec> {
  return JSON.parse(await readFile(path, 'utf8')) as CaseSpec;
}

async function copyContext(caseDir: string, ctx: string, baseRef: string): Promise<void> {
  await mkdir(dirname(ctx), { recursive: true });
  // cp -a keeps what git left (links, modes); setup.sh then makes what git cannot keep.
  await runCommand('cp', ['-a', '--', caseDir, ctx]);
  for (const name of HARNESS_FILES) await rm(join(ctx, name), { force: true });
  await rewriteFrom(ctx, baseRef);
}

async function runScript(caseDir: string, script: string, ctx: string): Promise<void> {
  await runCommand('bash', [join(caseDir, script)], { cwd: ctx, timeoutMs: 60_000 });
}

function buildArgs(spec: CaseSpec): string[] {
  return Object.entries(spec.build?.args ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
}

function tail(res: CommandResult): string {
  return `${res.stdout}${res.stderr}`.trim().split('\n').slice(-30).join('\n');
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return true;
  }
}

/** Builds the context once and checks the result against spec; returns the mismatches. */
async function buildAndCheck(
  label: string,
  ctx: string,
  cacheDir: string,
  dest: string,
  spec: CaseSpec,
  env: CaseEnv,
  logs: string[],
): Promise<string[]> {
  const bad = unknownSpecKeys(spec);
  if (bad.length > 0) return bad.map((k) => `${label}: spec key ${k} is not known to the checker`);
  const res = await runKiln([
    'build',
    '--progress=plain',
    '--cache-dir',
    cacheDir,
    '-o',
    `type=oci,dest=${dest},tar=false`,
    ...buildArgs(spec),
    ...(env.extraArgs ?? []),
    ctx,
  ]);
  const output = `${res.stdout}${res.stderr}`;
  logs.push(`${label} (exit ${res.code}):\n${output}`);

  if (spec.build?.expect === 'fail') {
    const out: string[] = [];
    if (res.code === 0) out.push(`${label}: succeeded, expected it to fail`);
    for (const pattern of spec.build.fail_match ?? []) {
      if (!new RegExp(pattern, 'i').test(output)) {
        out.push(`${label}: output does not match /${pattern}/i:\n${tail(res)}`);
      }
    }
    if (!(await isEmptyOrMissing(dest))) out.push(`${label}: failed but wrote ${dest}`);
    return out;
  }
  if (res.code !== 0) return [`${label}: failed with exit code ${res.code}:\n${tail(res)}`];
  let image: Awaited<ReturnType<typeof readCaseImage>>;
  try {
    image = await readCaseImage(dest, 'latest');
  } catch (err) {
    return [`${label}: cannot read the image: ${(err as Error).message}`];
  }
  return (await checkImage(image, spec)).map((f) => `${label}: ${f}`);
}

/** Runs one case folder end to end and collects what does not match its specs. */
export async function runCase(name: string, env: CaseEnv): Promise<CaseResult> {
  const caseDir = join(casesDir, name);
  const ctx = join(env.workDir, 'ctx');
  const cacheDir = join(env.workDir, 'cache');
  const logs: string[] = [];
  const failures: string[] = [];
  if (!existsSync(join(caseDir, 'spec.json'))) {
    return { failures: [`${name} has no spec.json`], logs };
  }

  await copyContext(caseDir, ctx, env.baseRef);
  if (existsSync(join(caseDir, 'setup.sh'))) await runScript(caseDir, 'setup.sh', ctx);
  const spec = await readSpec(join(caseDir, 'spec.json'));
  const dest1 = join(env.workDir, 'out1');
  failures.push(...(await buildAndCheck('build 1', ctx, cacheDir, dest1, spec, env, logs)));

  if (existsSync(join(caseDir, 'second.sh'))) {
    if (!existsSync(join(caseDir, 'spec2.json'))) {
      failures.push(`${name} has second.sh but no spec2.json`);
      return { failures, logs };
    }
    await runScript(caseDir, 'second.sh', ctx);
    await rewriteFrom(ctx, env.baseRef);
    const spec2 = await readSpec(join(caseDir, 'spec2.json'));
    const dest2 = join(env.workDir, 'out2');
    failures.push(...(await buildAndCheck('build 2', ctx, cacheDir, dest2, spec2, env, logs)));
  }
  return { failures, logs };
}
