export type {
  ArgCommand,
  ArgDef,
  Command,
  CommandKind,
  CommandLine,
  CommandOf,
  HealthConfig,
  InlineFile,
  KeyValue,
  SourcesAndDest,
  Stage,
} from './commands.js';
export { parseGoDuration } from './duration.js';
export { type MountSpec, type MountType, parseMountSpec } from './mount-spec.js';
export { type FromInstruction, INSTRUCTION_NAMES, parseInstruction } from './parse-instruction.js';
export { parseStages, type StagesResult } from './parse-stages.js';
