/** Splits an instruction line into keyword, `--flags` and the rest, as BuildKit does. */

import { encodeRune, goSplit, isSpaceRune, trimLeftSpace, trimSpace } from './go-string.js';

export const WHITESPACE = /[\t\v\f\r ]+/g;

export interface SplitCommand {
  keyword: string;
  flags: string[];
  rest: string;
  /** Where the keyword, each flag and the rest start in `line` (bytes). */
  keywordOffset: number;
  flagOffsets: number[];
  restOffset: number;
}

export function splitCommand(line: string): SplitCommand {
  const trimmed = trimSpace(line);
  const keywordOffset = line.length - trimLeftSpace(line).length;
  const parts = goSplit(WHITESPACE, trimmed, 2);
  const keyword = parts[0] ?? '';
  const end = keywordOffset + trimmed.length;
  if (parts.length < 2) {
    return { keyword, flags: [], rest: '', keywordOffset, flagOffsets: [], restOffset: end };
  }
  const flagsText = parts[1]!;
  const flagsOffset = end - flagsText.length;
  const [rest, flags, starts] = extractBuilderFlags(flagsText);
  const restTrimmed = trimSpace(rest);
  const restOffset =
    restTrimmed === '' ? end : end - rest.length + (rest.length - trimLeftSpace(rest).length);
  return {
    keyword,
    flags,
    rest: restTrimmed,
    keywordOffset,
    flagOffsets: starts.map((o) => flagsOffset + o),
    restOffset,
  };
}

const IN_SPACES = 0;
const IN_WORD = 1;
const IN_QUOTE = 2;

/**
 * Reads leading `--name[=value]` words. BuildKit scans bytes here, not runes: a byte 0x85 or
 * 0xA0 counts as a space and each byte >= 0x80 is re-encoded as the rune of the same number.
 * That is reproduced so flags compare equal to BuildKit's. Returns the rest of the line, the
 * flags, and where each flag starts in `line`.
 */
export function extractBuilderFlags(line: string): [string, string[], number[]] {
  const words: string[] = [];
  const starts: number[] = [];
  let start = 0;
  let phase = IN_SPACES;
  let word = '';
  let quote = 0;
  let blankOK = false;
  let ch = 0;

  for (let pos = 0; pos <= line.length; pos++) {
    if (pos !== line.length) ch = line.charCodeAt(pos);

    if (phase === IN_SPACES) {
      if (pos === line.length) break;
      if (isSpaceRune(ch)) continue;
      if (ch !== 0x2d || pos + 1 === line.length || line.charCodeAt(pos + 1) !== 0x2d) {
        return [line.slice(pos), words, starts];
      }
      phase = IN_WORD;
      start = pos;
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOK || word.length > 0)) {
        words.push(word);
        starts.push(start);
      }
      break;
    }
    if (phase === IN_WORD) {
      if (isSpaceRune(ch)) {
        phase = IN_SPACES;
        if (word === '--') return [line.slice(pos), words, starts];
        if (blankOK || word.length > 0) {
          words.push(word);
          starts.push(start);
        }
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
        continue;
      }
      if (ch === 0x5c) {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line.charCodeAt(pos);
      }
      word += encodeRune(ch);
      continue;
    }
    // IN_QUOTE
    if (ch === quote) {
      phase = IN_WORD;
      continue;
    }
    if (ch === 0x5c) {
      if (pos + 1 === line.length) {
        phase = IN_WORD;
        continue;
      }
      pos++;
      ch = line.charCodeAt(pos);
    }
    word += encodeRune(ch);
  }
  return ['', words, starts];
}
