/** Heredoc markers (`<<EOF`, `<<-EOF`, `3<<"EOF"`) in RUN, COPY and ADD lines. */

import { ShellError } from '../shell/shell-error.js';
import { ShellLexer } from '../shell/shell-lexer.js';
import type { RawHeredoc } from './ast-node.js';
import { fromByteString, toByteString } from './go-string.js';

const HEREDOC = /^([0-9]*)<<(-?)([^<]*)$/;
const NO_ENV: ReadonlyMap<string, string> = new Map();

/** The marker's parts, or undefined when `word` is not a heredoc marker. Names are JS strings. */
export interface HeredocMarker {
  name: string;
  fd: number;
  expand: boolean;
  chomp: boolean;
}

/**
 * Parses one word as a heredoc marker. The word is lexed with and without quote removal: if
 * the two differ in quotes, some part of the delimiter was quoted and the body is not expanded.
 */
export function parseHeredocMarker(word: string): HeredocMarker | undefined {
  const m = HEREDOC.exec(word);
  if (m === null) return undefined;
  const rest = m[3]!;
  if (rest.length === 0) return undefined;

  const words = new ShellLexer({ skipUnsetEnv: true }).processWords(rest, NO_ENV);
  if (words.length !== 1) return undefined;
  const raw = new ShellLexer({ skipUnsetEnv: true, rawQuotes: true }).processWords(rest, NO_ENV);
  if (raw.length !== words.length) {
    throw new ShellError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }

  const name = words[0]!;
  const fd = m[1] === '' ? 0 : Number.parseInt(m[1]!, 10);
  return {
    name,
    fd: Number.isSafeInteger(fd) ? fd : 0,
    expand: countQuotes(name) === countQuotes(raw[0]!),
    chomp: m[2] === '-',
  };
}

function countQuotes(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === "'" || ch === '"') n++;
  return n;
}

/** Heredoc markers of an instruction line (a byte string), in order; bodies still empty. */
export function heredocsFromLine(line: string): RawHeredoc[] {
  const lexer = new ShellLexer({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  let words: string[];
  try {
    words = lexer.processWords(fromByteString(line), NO_ENV);
  } catch (err) {
    // BuildKit ignores lexing errors of the whole line: such a line simply has no heredocs.
    if (err instanceof ShellError) return [];
    throw err;
  }
  const docs: RawHeredoc[] = [];
  for (const word of words) {
    const marker = parseHeredocMarker(word);
    if (marker === undefined) continue;
    docs.push({ ...marker, name: toByteString(marker.name), content: '' });
  }
  return docs;
}

/**
 * Where each heredoc marker of an instruction line starts (its fd digits included), in order:
 * the `<<` that are not part of a longer run of `<` and are followed by a delimiter. Used only
 * to point errors at a marker; a `<<` inside quotes may shift the count, and then an error
 * points at another marker of the same line.
 */
export function markerOffsets(line: string): number[] {
  const out: number[] = [];
  const re = /(^|[^<0-9])([0-9]*)<<-?(?=[^<\s])/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    out.push(m.index + m[1]!.length);
  }
  return out;
}

/** Removes leading tabs from every line, as `<<-` asks (lines end at `\n` only, as in Go). */
export function chompHeredocContent(content: string): string {
  return content
    .split('\n')
    .map((line) => line.replace(/^\t+/, ''))
    .join('\n');
}
