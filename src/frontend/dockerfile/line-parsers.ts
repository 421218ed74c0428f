/**
 * Per-instruction argument parsers of BuildKit's parser. They shape the argument chain only;
 * meaning (is this a valid ENV key, a valid duration) is checked in the instructions layer.
 */

import { type AstNode, newNode, shiftOffsets } from './ast-node.js';
import {
  decodeRune,
  encodeRune,
  goQuote,
  goSplit,
  goSplitOffsets,
  isSpaceRune,
  trimLeftSpace,
} from './go-string.js';
import { decodeJsonStringArray, NotStringArrayError } from './json-array.js';
import { WHITESPACE } from './split-command.js';

/**
 * A parse failure inside one instruction; the parser adds the location. `offset` is where the
 * word at fault starts in the text given to the line parser (the instruction's start if unknown).
 */
export class LineParseError extends Error {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

export type LineParser = (rest: string, escapeToken: number) => ParsedArgs;
export interface ParsedArgs {
  next: AstNode | undefined;
  json: boolean;
}

const none: ParsedArgs = { next: undefined, json: false };

/** Argument nodes for `values`, each starting at the same index of `offsets`. */
function chain(values: string[], offsets: readonly number[]): AstNode | undefined {
  let head: AstNode | undefined;
  for (let i = values.length - 1; i >= 0; i--) head = newNode(values[i], head, offsets[i] ?? 0);
  return head;
}

/** Words as parseWords returns them, and where each starts in the text. */
export interface Words {
  words: string[];
  offsets: number[];
}

/** Unknown instructions still make a node; its single empty argument dumps as `""`. */
export function parseIgnore(): ParsedArgs {
  return { next: newNode(), json: false };
}

/**
 * Words separated by whitespace; quotes and escapes are kept (they are removed later, when the
 * words are expanded). Runes are decoded, so invalid UTF-8 turns into U+FFFD here.
 */
export function parseWords(rest: string, escapeToken: number): Words {
  const words: string[] = [];
  const offsets: number[] = [];
  let start = 0;
  let phase = 0; // 0 spaces, 1 word, 2 quote
  let word = '';
  let quote = 0;
  let blankOK = false;
  let ch = 0;
  let width = 0;

  for (let pos = 0; pos <= rest.length; pos += width) {
    if (pos !== rest.length) [ch, width] = decodeRune(rest, pos);

    if (phase === 0) {
      if (pos === rest.length) break;
      if (isSpaceRune(ch)) continue;
      phase = 1;
      start = pos;
    }
    if (pos === rest.length) {
      if (blankOK || word.length > 0) {
        words.push(word);
        offsets.push(start);
      }
      break;
    }
    if (phase === 1) {
      if (isSpaceRune(ch)) {
        phase = 0;
        if (blankOK || word.length > 0) {
          words.push(word);
          offsets.push(start);
        }
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = 2;
      }
      if (ch === escapeToken) {
        if (pos + width === rest.length) continue;
        // An unquoted escape keeps itself and the next character, even a quote.
        word += encodeRune(ch);
        pos += width;
        [ch, width] = decodeRune(rest, pos);
      }
      word += encodeRune(ch);
      continue;
    }
    if (ch === quote) phase = 1;
    // Nothing can be escaped inside single quotes.
    if (ch === escapeToken && quote !== 0x27) {
      if (pos + width === rest.length) {
        phase = 1;
        continue;
      }
      pos += width;
      word += encodeRune(ch);
      [ch, width] = decodeRune(rest, pos);
    }
    word += encodeRune(ch);
  }
  return { words, offsets };
}

function keyValue(key: string, value: string, sep: string, at: number, valueAt: number): AstNode {
  return newNode(key, newNode(value, newNode(sep, undefined, valueAt), valueAt), at);
}

/**
 * ENV and LABEL: `KEY value...` (legacy, sep "") when the first word has no `=`, otherwise
 * `k=v` pairs (sep "=").
 */
function parseNameVal(rest: string, escapeToken: number, keyword: string): ParsedArgs {
  const { words, offsets } = parseWords(rest, escapeToken);
  if (words.length === 0) return none;

  if (!words[0]!.includes('=')) {
    const parts = goSplit(WHITESPACE, rest, 2);
    const at = goSplitOffsets(WHITESPACE, rest, 2);
    if (parts.length < 2) throw new LineParseError(`${keyword} must have two arguments`, at[0]);
    return { next: keyValue(parts[0]!, parts[1]!, '', at[0]!, at[1]!), json: false };
  }

  const nodes: AstNode[] = [];
  for (const [i, word] of words.entries()) {
    const eq = word.indexOf('=');
    const at = offsets[i]!;
    if (eq < 0) {
      throw new LineParseError(
        `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`,
        at,
      );
    }
    nodes.push(keyValue(word.slice(0, eq), word.slice(eq + 1), '=', at, at + eq + 1));
  }
  for (let i = 0; i < nodes.length - 1; i++) nodes[i]!.next!.next!.next = nodes[i + 1];
  return { next: nodes[0], json: false };
}

export function parseEnv(rest: string, escapeToken: number): ParsedArgs {
  return parseNameVal(rest, escapeToken, 'ENV');
}

export function parseLabel(rest: string, escapeToken: number): ParsedArgs {
  return parseNameVal(rest, escapeToken, 'LABEL');
}

/** ARG: `name`, `name=value`, several per line. */
export function parseNameOrNameVal(rest: string, escapeToken: number): ParsedArgs {
  const { words, offsets } = parseWords(rest, escapeToken);
  return { next: chain(words, offsets), json: false };
}

export function parseStringsWhitespaceDelimited(rest: string): ParsedArgs {
  if (rest === '') return none;
  const words = goSplit(WHITESPACE, rest, -1);
  return { next: chain(words, goSplitOffsets(WHITESPACE, rest, -1)), json: false };
}

export function parseString(rest: string): ParsedArgs {
  if (rest === '') return none;
  return { next: newNode(rest), json: false };
}

/** Exec form; `undefined` when the text is not a JSON array. */
function parseJson(rest: string): ParsedArgs | undefined {
  const trimmed = trimLeftSpace(rest);
  if (!trimmed.startsWith('[')) return undefined;
  const lead = rest.length - trimmed.length;
  let array: ReturnType<typeof decodeJsonStringArray>;
  try {
    array = decodeJsonStringArray(trimmed);
  } catch (err) {
    if (err instanceof NotStringArrayError)
      throw new LineParseError(err.message, lead + err.offset);
    throw err;
  }
  if (array === undefined) return undefined;
  const offsets = array.offsets.map((o) => lead + o);
  return { next: chain(array.values, offsets), json: true };
}

/** RUN, CMD, ENTRYPOINT, SHELL: exec form if the text is a JSON array, else one string. */
export function parseMaybeJson(rest: string): ParsedArgs {
  if (rest === '') return none;
  return parseJson(rest) ?? { next: newNode(rest), json: false };
}

/** ADD, COPY, VOLUME: exec form if JSON, else whitespace-separated words. */
export function parseMaybeJsonToList(rest: string): ParsedArgs {
  return parseJson(rest) ?? parseStringsWhitespaceDelimited(rest);
}

/** HEALTHCHECK: a type word (CMD, NONE) and then a command like CMD's. Scans bytes. */
export function parseHealthConfig(rest: string): ParsedArgs {
  let sep = 0;
  while (sep < rest.length && !isSpaceRune(rest.charCodeAt(sep))) sep++;
  let next = sep;
  while (next < rest.length && isSpaceRune(rest.charCodeAt(next))) next++;
  if (sep === 0) return none;

  const cmd = parseMaybeJson(rest.slice(next));
  if (cmd.next !== undefined) shiftOffsets(cmd.next, next);
  return { next: newNode(rest.slice(0, sep), cmd.next), json: cmd.json };
}
