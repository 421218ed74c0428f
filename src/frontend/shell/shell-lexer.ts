/**
 * BuildKit's shell lexer: variable expansion, quote removal and word splitting of Dockerfile
 * words. It mimics a POSIX shell only as far as BuildKit does (no command substitution, no
 * arithmetic, no globbing).
 */

import { ShellError } from './shell-error.js';
import { replacePattern, trimPrefixPattern, trimSuffixPattern } from './shell-pattern.js';
import { isDigit, isLetter, isSpecialParam, Words } from './shell-words.js';

/** A variable source: a Map, a plain record, or anything with get/keys. */
export interface EnvGetter {
  get(name: string): string | undefined;
}
export type ShellEnv = ReadonlyMap<string, string> | Readonly<Record<string, string>> | EnvGetter;

export interface ShellLexerOptions {
  /** The escape character: `\` (default) or a backtick. */
  escape?: string;
  /** Keep quote characters in the result (used to detect quoted heredoc delimiters). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to "". */
  skipUnsetEnv?: boolean;
}

export interface ProcessWordResult {
  result: string;
  words: string[];
  /** Variables that were referenced and set. */
  matched: Set<string>;
  /** Variables that were referenced and unset. */
  unmatched: Set<string>;
}

const EOF = -1;

function toGetter(env: ShellEnv): (name: string) => string | undefined {
  if (env instanceof Map) return (name) => env.get(name);
  if (typeof (env as EnvGetter).get === 'function') {
    const getter = env as EnvGetter;
    return (name) => getter.get(name);
  }
  const record = env as Readonly<Record<string, string>>;
  return (name) => (Object.hasOwn(record, name) ? record[name] : undefined);
}

export class ShellLexer {
  readonly escape: number;
  readonly options: Readonly<ShellLexerOptions>;

  constructor(options: ShellLexerOptions = {}) {
    const token = options.escape ?? '\\';
    if (token !== '\\' && token !== '`') {
      throw new ShellError(`invalid escape token '${token}' does not match \` or \\`);
    }
    this.escape = token.codePointAt(0)!;
    this.options = { ...options };
  }

  /** Expands one word to one string (spaces between words are kept). */
  processWord(word: string, env: ShellEnv): string {
    return this.process(word, env).result;
  }

  /** Expands and splits a word into words, as BuildKit does for exec-like lists. */
  processWords(word: string, env: ShellEnv): string[] {
    return this.process(word, env).words;
  }

  /** Expands a word and reports which variables it referenced. */
  processWordWithMatches(word: string, env: ShellEnv): ProcessWordResult {
    return this.process(word, env);
  }

  private process(word: string, env: ShellEnv): ProcessWordResult {
    const run = new ShellWord(this, word, toGetter(env));
    try {
      const { result, words } = run.processStopOn(EOF, this.options.rawEscapes === true);
      return { result, words, matched: run.matched, unmatched: run.unmatched };
    } catch (err) {
      if (err instanceof ShellError) {
        throw new ShellError(`failed to process ${JSON.stringify(word)}: ${err.message}`);
      }
      throw err;
    }
  }
}

/** One expansion run over one word; mirrors a Go text/scanner over runes. */
class ShellWord {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly chars: number[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly escape: number;
  private readonly opts: Readonly<ShellLexerOptions>;

  constructor(
    lexer: ShellLexer,
    word: string,
    private readonly lookup: (name: string) => string | undefined,
  ) {
    this.chars = Array.from(word, (ch) => ch.codePointAt(0)!);
    // Go's text/scanner skips a byte order mark at the very start.
    if (this.chars[0] === 0xfeff) this.pos = 1;
    this.escape = lexer.escape;
    this.opts = lexer.options;
    this.rawEscapes = lexer.options.rawEscapes === true;
  }

  private peek(): number {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }

  private next(): number {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  processStopOn(stop: number, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.scanUntil(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private scanUntil(stop: number): { result: string; words: string[] } {
    let result = '';
    const words = new Words();
    const quotes = this.opts.skipProcessQuotes !== true;

    while (this.peek() !== EOF) {
      let ch = this.peek();
      if (stop !== EOF && ch === stop) {
        this.next();
        return { result, words: words.finish() };
      }
      if (ch === 0x24) {
        const tmp = this.processDollar();
        result += tmp;
        words.addString(tmp);
        continue;
      }
      if (quotes && (ch === 0x27 || ch === 0x22)) {
        const tmp = ch === 0x27 ? this.processSingleQuote() : this.processDoubleQuote();
        result += tmp;
        words.addRawString(tmp);
        continue;
      }

      ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) {
          words.addRawChar(ch);
          result += String.fromCodePoint(ch);
        }
        ch = this.next();
        if (ch === EOF) break;
        words.addRawChar(ch);
      } else {
        words.addChar(ch);
      }
      result += String.fromCodePoint(ch);
    }

    if (stop !== EOF) {
      throw new ShellError(
        `unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`,
      );
    }
    return { result, words: words.finish() };
  }

  private processSingleQuote(): string {
    const raw = this.opts.rawQuotes === true;
    let result = '';
    const open = this.next();
    if (raw) result += String.fromCodePoint(open);
    for (;;) {
      const ch = this.next();
      if (ch === EOF) {
        throw new ShellError('unexpected end of statement while looking for matching single-quote');
      }
      if (ch === 0x27) {
        if (raw) result += "'";
        return result;
      }
      result += String.fromCodePoint(ch);
    }
  }

  private processDoubleQuote(): string {
    const raw = this.opts.rawQuotes === true;
    let result = '';
    const open = this.next();
    if (raw) result += String.fromCodePoint(open);
    for (;;) {
      const peeked = this.peek();
      if (peeked === EOF) {
        throw new ShellError('unexpected end of statement while looking for matching double-quote');
      }
      if (peeked === 0x22) {
        this.next();
        if (raw) result += '"';
        return result;
      }
      if (peeked === 0x24) {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result += String.fromCodePoint(ch);
        const after = this.peek();
        // Inside double quotes the escape only applies to `"`, `$` and itself.
        if (after === EOF) continue;
        if (after === 0x22 || after === 0x24 || after === this.escape) ch = this.next();
      }
      result += String.fromCodePoint(ch);
    }
  }

  private getEnv(name: string): [string, boolean] {
    const value = this.lookup(name);
    if (value !== undefined) {
      this.matched.add(name);
      return [value, true];
    }
    this.unmatched.add(name);
    return ['', false];
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== 0x7b) {
      const name = this.processName();
      if (name === '') return '$';
      const [value, found] = this.getEnv(name);
      if (!found && this.opts.skipUnsetEnv === true) return `$${name}`;
      return value;
    }

    this.next();
    const first = this.peek();
    if (first === EOF) throw new ShellError("syntax error: missing '}'");
    if (first === 0x7b || first === 0x7d || first === 0x3a) {
      throw new ShellError('syntax error: bad substitution');
    }
    const name = this.processName();
    let ch = this.next();
    let chs = ch === EOF ? '' : String.fromCodePoint(ch);

    if (ch === 0x7d) {
      const [value, set] = this.getEnv(name);
      if (!set && this.opts.skipUnsetEnv === true) return `\${${name}}`;
      return value;
    }
    if (ch === 0x2f) return this.processReplace(name);

    let nullIsUnset = false;
    if (ch === 0x3a) {
      nullIsUnset = true;
      ch = this.next();
      chs += ch === EOF ? '' : String.fromCodePoint(ch);
    } else if (!'+-?#%'.includes(chs) || chs === '') {
      throw new ShellError(`unsupported modifier (${chs}) in substitution`);
    }
    return this.processModifier(name, ch, chs, nullIsUnset);
  }

  private processModifier(name: string, ch: number, chs: string, nullIsUnset: boolean): string {
    const patternOp = ch === 0x23 || ch === 0x25;
    if (nullIsUnset && patternOp) {
      throw new ShellError(`unsupported modifier (${chs}) in substitution`);
    }
    let word = this.stopOnOrMissing(0x7d, patternOp, "syntax error: missing '}'");

    const [value, set] = this.getEnv(name);
    if (this.opts.skipUnsetEnv === true && !set) return `\${${name}${chs}${word}}`;

    const unsetOrNull = !set || (nullIsUnset && value === '');
    switch (ch) {
      case 0x2d: // -
        return unsetOrNull ? word : value;
      case 0x2b: // +
        return unsetOrNull ? '' : word;
      case 0x3f: {
        // ?
        if (!set)
          throw new ShellError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') {
          throw new ShellError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        }
        return value;
      }
      case 0x23: // #
      case 0x25: {
        // %
        let greedy = false;
        if (word.length > 0 && word.codePointAt(0) === ch) {
          greedy = true;
          word = word.slice(1);
        }
        return ch === 0x25
          ? trimSuffixPattern(word, value, greedy)
          : trimPrefixPattern(word, value, greedy);
      }
      default:
        throw new ShellError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === 0x2f;
    if (all) this.next();
    const pattern = this.stopOnOrMissing(0x2f, true, "syntax error: missing '/' in $" + '{}');
    const replacement = this.stopOnOrMissing(0x7d, true, "syntax error: missing '}'");

    const [value, set] = this.getEnv(name);
    if (this.opts.skipUnsetEnv === true && !set) return `\${${name}/${pattern}/${replacement}}`;
    return replacePattern(value, pattern, replacement, all);
  }

  private stopOnOrMissing(stop: number, rawEscapes: boolean, missing: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (err) {
      if (err instanceof ShellError && this.peek() === EOF) throw new ShellError(missing);
      throw err;
    }
  }

  /** A name is letters, digits and `_`; a leading digit reads digits only. */
  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) {
          name += String.fromCodePoint(this.next());
        }
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) {
        return String.fromCodePoint(this.next());
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }
}

/** Expands one word with BuildKit's rules; throws ShellError on bad syntax. */
export function expandWord(word: string, env: ShellEnv, escapeToken = '\\'): string {
  return new ShellLexer({ escape: escapeToken }).processWord(word, env);
}

/** Expands and splits a word into words; throws ShellError on bad syntax. */
export function expandWords(word: string, env: ShellEnv, escapeToken = '\\'): string[] {
  return new ShellLexer({ escape: escapeToken }).processWords(word, env);
}

/** Expands one word and reports the referenced variables (set and unset). */
export function expandWordWithMatches(
  word: string,
  env: ShellEnv,
  escapeToken = '\\',
): ProcessWordResult {
  return new ShellLexer({ escape: escapeToken }).processWordWithMatches(word, env);
}
