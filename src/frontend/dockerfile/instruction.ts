/** The parser's output: one Instruction per Dockerfile instruction, strings decoded to Unicode. */

import type { SourceLocation } from '../../errors.js';
import type { AstNode } from './ast-node.js';

export interface Heredoc {
  /** The delimiter with quotes removed (`EOF` for `<<"EOF"`). */
  name: string;
  /** The body as written, every line with its line ending, without the terminator line. */
  content: string;
  /** False when any part of the delimiter was quoted: the body is used verbatim. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the body (when it is used, not here). */
  chomp: boolean;
  /** The file descriptor prefix of `3<<EOF`; 0 when there is none. */
  fd: number;
}

export interface InstructionLocation {
  file: string;
  /** 1-based first line of the instruction. */
  line: number;
  /** 1-based column of the keyword. */
  column: number;
  /** 1-based last line, including continuation lines and heredoc bodies. */
  endLine: number;
  /**
   * Where each of the instruction's `flags` starts, in order, with the flag's name. Absent for
   * instructions that come from no Dockerfile line (a base image's ONBUILD triggers).
   */
  flags?: FlagLocation[];
  /** Where each of the instruction's `args` starts, in order (an exec form's at its quote). */
  args?: SourceLocation[];
}

export interface FlagLocation extends SourceLocation {
  /** The flag's name without `--` and value: `from` for `--from=build`. */
  name: string;
}

export interface Instruction {
  /** Lower-case keyword: 'run', 'copy', ... (unknown keywords too). */
  keyword: string;
  /** The keyword as written. */
  rawKeyword: string;
  /** The instruction's text with continuation lines joined (BuildKit's Node.Original). */
  original: string;
  /** `--name=value` flags as written, quotes removed. */
  flags: string[];
  /**
   * Arguments in dump order: ENV/LABEL give key, value, separator triples; ONBUILD gives the
   * inner keyword and then its arguments; HEALTHCHECK gives the type and then the command.
   */
  args: string[];
  /** Exec (JSON array) form. */
  json: boolean;
  heredocs: Heredoc[];
  location: InstructionLocation;
  /** ONBUILD's instruction. */
  inner?: Instruction;
}

export interface Directives {
  syntax?: string;
  /** `\` or a backtick. */
  escape: string;
  check?: string;
}

export interface ParseWarning {
  message: string;
  line: number;
}

export interface ParsedDockerfile {
  file: string;
  directives: Directives;
  instructions: Instruction[];
  warnings: ParseWarning[];
  /** BuildKit's parse tree (byte strings); the dump is made from it so invalid UTF-8 survives. */
  ast: AstNode[];
}
