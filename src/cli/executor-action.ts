import * as path from 'node:path';
import { KilnError } from '../errors.js';
import type { ResultFile } from '../exporter/result-file.js';
import { parseReference, repositoryName } from '../registry/index.js';
import { activeIsolation } from '../worker/sandbox/userns.js';
import { runBuildCommand } from './build-action.js';
import { type ExecutorArgs, parseExecutorArgs } from './executor-args.js';
import { executorHelp } from './executor-help.js';
import {
  dockerConfigDefault,
  type ExecutorPlan,
  progressOf,
  realHost,
  toExecutorPlan,
} from './executor-options.js';

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
    resultFiles: () => executorResultFiles(plan as ExecutorPlan),
  });
}

/**
 * `--digest-file`, `--image-name-with-digest-file`, `--image-name-tag-with-digest-file`: written
 * with the outputs when the build has a manifest digest. kaniko makes their missing parent
 * directories (mode 0700).
 */
export function executorResultFiles(plan: ExecutorPlan): ResultFile[] {
  const lines = (digest: string, withTag: boolean): string =>
    plan.destinations
      .map((d) => {
        const ref = parseReference(d);
        const tag = withTag && ref.tag ? `:${ref.tag}` : '';
        return `${repositoryName(ref)}${tag}@${digest}\n`;
      })
      .join('');
  const file = (
    flag: string,
    at: string | undefined,
    content: (digest: string) => string,
  ): ResultFile[] =>
    at === undefined
      ? []
      : [
          {
            flag,
            path: path.resolve(at),
            parentMode: 0o700,
            content: (outcome) =>
              outcome.manifestDigest === undefined ? undefined : content(outcome.manifestDigest),
          },
        ];
  return [
    ...file('--digest-file', plan.digestFile, (digest) => digest),
    ...file('--image-name-with-digest-file', plan.imageNameDigestFile, (d) => lines(d, false)),
    ...file('--image-name-tag-with-digest-file', plan.imageNameTagDigestFile, (d) =>
      lines(d, true),
    ),
  ];
}

function reportPlain(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`kiln executor: ${message}\n`);
  if (err instanceof KilnError && err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  return err instanceof KilnError ? err.exitCode : 1;
}
