import { DockerfileError, type SourceLocation } from '../../errors.js';
import { parseDockerfile } from '../dockerfile/index.js';
import type { Command } from '../instructions/commands.js';
import { parseStages } from '../instructions/parse-stages.js';

const FS_KINDS = new Set(['run', 'copy', 'add', 'workdir']);

/**
 * The ONBUILD triggers a base image carries, parsed as instructions. Docker runs them right after
 * the FROM that uses the image, as if they were written there; errors point at that FROM.
 */
export function parseTriggers(triggers: readonly string[], from: SourceLocation): Command[] {
  const commands: Command[] = [];
  for (const trigger of triggers) {
    const keyword = trigger.trim().split(/\s+/, 1)[0]?.toUpperCase() ?? '';
    if (keyword === 'ONBUILD' || keyword === 'FROM' || keyword === 'MAINTAINER') {
      throw new DockerfileError(
        'ONBUILD_INVALID',
        `the base image's ONBUILD trigger "${trigger}" is not allowed (${keyword} cannot be a trigger)`,
        from,
      );
    }
    try {
      const parsed = parseDockerfile(`FROM scratch\n${trigger}\n`, from.file);
      const stage = parseStages(parsed).stages[0];
      for (const cmd of stage?.commands ?? []) {
        commands.push({ ...cmd, location: { ...from, endLine: from.line } });
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new DockerfileError(
        'ONBUILD_INVALID',
        `the base image's ONBUILD trigger "${trigger}" is invalid: ${message}`,
        from,
      );
    }
  }
  return commands;
}

/** How many of the commands make a filesystem step (for `[stage n/m]` numbering). */
export function fsStepCount(commands: readonly Command[]): number {
  return commands.filter((c) => FS_KINDS.has(c.kind)).length;
}
