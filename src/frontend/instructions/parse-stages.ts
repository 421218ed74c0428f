/** Splits typed commands into build stages, like BuildKit's instructions.Parse. */

import { DockerfileError } from '../../errors.js';
import type { ParsedDockerfile } from '../dockerfile/instruction.js';
import type { ArgCommand, Stage } from './commands.js';
import { parseInstruction } from './parse-instruction.js';

export interface StagesResult {
  /** ARGs before the first FROM: usable in FROM lines and redeclarable inside stages. */
  metaArgs: ArgCommand[];
  stages: Stage[];
}

export function parseStages(parsed: ParsedDockerfile): StagesResult {
  const metaArgs: ArgCommand[] = [];
  const stages: Stage[] = [];

  for (const ins of parsed.instructions) {
    const cmd = parseInstruction(ins);
    if (cmd.kind === 'from') {
      const stage: Stage = {
        index: stages.length,
        baseName: cmd.baseName,
        commands: [],
        original: cmd.original,
        location: cmd.location,
      };
      if (cmd.name !== undefined) stage.name = cmd.name;
      if (cmd.platform !== undefined) stage.platform = cmd.platform;
      stages.push(stage);
      continue;
    }
    const current = stages[stages.length - 1];
    if (current === undefined) {
      if (cmd.kind === 'arg') {
        metaArgs.push(cmd);
        continue;
      }
      const { file, line, column } = ins.location;
      throw new DockerfileError(
        'DOCKERFILE_NO_STAGE',
        `no build stage in current context: ${ins.rawKeyword.toUpperCase()} before the first FROM`,
        { file, line, column },
        'only ARG instructions may come before the first FROM',
      );
    }
    current.commands.push(cmd);
  }
  return { metaArgs, stages };
}
