/**
 * Where the text of one instruction stands in the file. Continuation lines are joined into one
 * string before an instruction is split into words, so each joined piece remembers its line and
 * column; an offset into the joined string then maps back to the line and column of the file.
 */

import type { SourceLocation } from '../../errors.js';
import { fromByteString } from './go-string.js';

/** One physical line's part of a joined instruction: it starts at `offset` of the joined text. */
export interface LinePiece {
  offset: number;
  /** 1-based line of the file. */
  line: number;
  /** 1-based column (in characters) of the piece's first character. */
  column: number;
}

/**
 * The 1-based column just after `prefix`, a byte string: columns count characters (code points),
 * not bytes, so `é` is one column and a tab is one column, as most editors' "column" readouts do.
 */
export function columnAfter(prefix: string): number {
  let n = 1;
  for (const _ of fromByteString(prefix)) n++;
  return n;
}

export class SourceMap {
  /**
   * @param text the joined instruction text (a byte string)
   * @param pieces the pieces in order; the first starts at offset 0
   */
  constructor(
    readonly file: string,
    readonly text: string,
    readonly pieces: readonly LinePiece[],
  ) {}

  /** The file position of byte `offset` of the joined text. */
  at(offset: number): SourceLocation {
    let piece = this.pieces[0]!;
    for (const p of this.pieces) {
      if (p.offset > offset) break;
      piece = p;
    }
    const column = piece.column - 1 + columnAfter(this.text.slice(piece.offset, offset));
    return { file: this.file, line: piece.line, column };
  }
}
