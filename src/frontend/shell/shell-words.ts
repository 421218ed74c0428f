/**
 * The shell lexer's small pieces: the character classes of variable names, as BuildKit reads them
 * (Unicode letters and digits, POSIX special parameters), and the accumulator that splits the
 * expanded text into words at unquoted white space.
 */
import { isSpaceRune } from '../dockerfile/go-string.js';

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/** A Unicode letter, as Go's unicode.IsLetter: what a variable name may start with. */
export function isLetter(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return LETTER.test(String.fromCodePoint(cp));
}

/** A Unicode decimal digit, as Go's unicode.IsDigit. */
export function isDigit(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return DIGIT.test(String.fromCodePoint(cp));
}

/** Special parameters of POSIX shells; BuildKit reads them as one-character names. */
export function isSpecialParam(cp: number): boolean {
  return '@*#?-$!0'.includes(String.fromCodePoint(cp));
}

/** Collects the split words while the result string is built. */
export class Words {
  words: string[] = [];
  private word = '';
  private inWord = false;

  addChar(cp: number): void {
    if (isSpaceRune(cp)) {
      if (this.inWord && this.word.length !== 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
      return;
    }
    this.addRawChar(cp);
  }

  addRawChar(cp: number): void {
    this.word += String.fromCodePoint(cp);
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch.codePointAt(0)!);
  }

  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}
