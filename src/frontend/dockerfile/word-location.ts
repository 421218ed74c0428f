/**
 * The position of one word of an instruction, for errors about that word. Each falls back to the
 * keyword when the word's position is unknown (a base image's ONBUILD trigger has no line of
 * its own), so an error always has a location.
 */

import type { SourceLocation } from '../../errors.js';
import type { InstructionLocation } from './instruction.js';

/** The instruction's keyword. */
export function keywordAt(loc: InstructionLocation): SourceLocation {
  return { file: loc.file, line: loc.line, column: loc.column };
}

/** The `n`th (0-based) flag named `name` (`from` for `--from=…`). */
export function flagAt(loc: InstructionLocation, name: string, n = 0): SourceLocation {
  const found = (loc.flags ?? []).filter((f) => f.name === name)[n];
  return found === undefined ? keywordAt(loc) : plain(found);
}

/** The flag at index `i` of the instruction's flags, as written. */
export function flagIndexAt(loc: InstructionLocation, i: number): SourceLocation {
  const found = loc.flags?.[i];
  return found === undefined ? keywordAt(loc) : plain(found);
}

/** The argument at index `i` of the instruction's args. */
export function argAt(loc: InstructionLocation, i: number): SourceLocation {
  const found = loc.args?.[i];
  return found === undefined ? keywordAt(loc) : plain(found);
}

function plain(l: SourceLocation): SourceLocation {
  return { file: l.file, line: l.line, column: l.column };
}
