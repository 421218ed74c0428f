import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { KilnError } from '../errors.js';
import { parseReference, repositoryName } from '../registry/index.js';
import type { BuildOutcome } from '../solver/run-build.js';
import { activeIsolation } from '../worker/sandbox/userns.js';
import { runBuildCommand } from './build-action.js';
import { type ExecutorArgs, parseExecutorArgs } from './executor-args.js';
import { executorHelp } from './executor-flags.js';
import {
  dockerConfigDefault,
  type ExecutorPlan,
  progressOf,
  realHost,
  toExecutorPlan,
} from './executor-options.js';
import { writeFileAtomic } from './result-files.js';

/**
 * `kiln executor ...`: kaniko's flags, then the same build path as `kiln build`. Errors in the
 * arguments themselves are printed plainly (the progress format is not known yet) and exit 2.
 */
export async function executorAction(argv: string[]): Promise<number> {
  let args: ExecutorArgs;
  let progress: ExecutorPlan['progress'];
  try {
    args = parseExecutorArgs(argv);
    if (args.bools.get('help')) {
      process.stdout.write(executorHelp());
      return 0;
    }
    progress = progressOf(args);
  } catch (err) {
    return reportPlain(err);
  }

  let plan: ExecutorPlan | undefined;
  return runBuildCommand({
    progress,
    prepare: (bus) => {
      const host = realHost();
      const dockerConfig = dockerConfigDefault(args, host);
      if (dockerConfig) process.env.DOCKER_CONFIG = dockerConfig;
      plan = toExecutorPlan(args, host);
      if (plan.sourceDateEpoch) process.env.SOURCE_DATE_EPOCH = plan.sourceDateEpoch;
      // The namespaced child parses the same flags again; warn once, from the outer process.
      if (activeIsolation() === undefined) for (const w of plan.warnings) bus.emit(w);
      return plan.request;
    },
    finish: (outcome) => writeExecutorFiles(outcome, plan as ExecutorPlan),
  });
}

/** `--digest-file`, `--image-name-with-digest-file`, `--image-name-tag-with-digest-file`. */
export async function writeExecutorFiles(outcome: BuildOutcome, plan: ExecutorPlan): Promise<void> {
  const digest = outcome.manifestDigest;
  if (!digest) return;
  if (plan.digestFile) await writeResult(plan.digestFile, digest);
  const lines = (withTag: boolean): string =>
    plan.destinations
      .map((d) => {
        const ref = parseReference(d);
        const tag = withTag && ref.tag ? `:${ref.tag}` : '';
        return `${repositoryName(ref)}${tag}@${digest}\n`;
      })
      .join('');
  if (plan.imageNameDigestFile) await writeResult(plan.imageNameDigestFile, lines(false));
  if (plan.imageNameTagDigestFile) await writeResult(plan.imageNameTagDigestFile, lines(true));
}

async function writeResult(file: string, data: string): Promise<void> {
  // kaniko creates missing parent directories for these files.
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, data);
}

function reportPlain(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`kiln executor: ${message}\n`);
  if (err instanceof KilnError && err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  return err instanceof KilnError ? err.exitCode : 1;
}
