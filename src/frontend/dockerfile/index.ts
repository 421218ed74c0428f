export { dumpDockerfile } from './dump-dockerfile.js';
export { chompHeredocContent, parseHeredocMarker } from './heredoc.js';
export type {
  Directives,
  Heredoc,
  Instruction,
  InstructionLocation,
  ParsedDockerfile,
  ParseWarning,
} from './instruction.js';
export { parseDockerfile } from './parse-dockerfile.js';
export { argAt, flagAt, flagIndexAt, keywordAt } from './word-location.js';
