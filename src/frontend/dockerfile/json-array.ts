/**
 * Decodes the first JSON value of a byte string the way Go's json.Decoder does for BuildKit's
 * exec form: text after the first complete value is ignored, invalid UTF-8 inside strings
 * becomes U+FFFD, and lone surrogate escapes become U+FFFD.
 */

import { decodeRune, encodeRune, RUNE_ERROR } from './go-string.js';

/** The value was JSON but not an array of strings: BuildKit rejects the instruction. */
export class NotStringArrayError extends Error {
  /** @param offset where the first element that is not a string starts */
  constructor(readonly offset: number) {
    super('when using JSON array syntax, arrays must be comprised of strings only');
  }
}

class JsonSyntaxError extends Error {}

/** Each element, and where it starts in the text. */
type Element = ({ kind: 'string'; value: string } | { kind: 'other' }) & { offset: number };

/** The strings of an exec-form array, and where each element starts in the text. */
export interface JsonStrings {
  values: string[];
  offsets: number[];
}

/**
 * Returns the array's strings (as byte strings), `undefined` when the text is not a JSON array
 * (the caller falls back to shell form), or throws NotStringArrayError.
 */
export function decodeJsonStringArray(bs: string): JsonStrings | undefined {
  const p = new Parser(bs);
  let elements: Element[] | undefined;
  let badNumber = false;
  try {
    p.skipWs();
    if (bs[p.pos] !== '[') return undefined;
    elements = p.parseArray();
    badNumber = p.badNumber;
  } catch (err) {
    if (err instanceof JsonSyntaxError) return undefined;
    throw err;
  }
  // Go reports a number that does not fit a float64 as an unmarshal error, not as "not strings".
  if (badNumber) return undefined;
  const out: JsonStrings = { values: [], offsets: [] };
  for (const el of elements) {
    if (el.kind !== 'string') throw new NotStringArrayError(el.offset);
    out.values.push(el.value);
    out.offsets.push(el.offset);
  }
  return out;
}

class Parser {
  pos = 0;
  badNumber = false;
  constructor(private readonly s: string) {}

  fail(): never {
    throw new JsonSyntaxError('invalid JSON');
  }

  skipWs(): void {
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') break;
      this.pos++;
    }
  }

  parseArray(): Element[] {
    this.pos++;
    const out: Element[] = [];
    this.skipWs();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWs();
      out.push(this.parseElement());
      this.skipWs();
      const c = this.s[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail();
    }
  }

  parseElement(): Element {
    const offset = this.pos;
    const c = this.s[this.pos];
    if (c === '"') return { kind: 'string', value: this.parseString(), offset };
    this.parseValue();
    return { kind: 'other', offset };
  }

  parseValue(): void {
    const c = this.s[this.pos];
    if (c === '"') {
      this.parseString();
    } else if (c === '[') {
      this.parseArray();
    } else if (c === '{') {
      this.parseObject();
    } else if (c === 't') {
      this.literal('true');
    } else if (c === 'f') {
      this.literal('false');
    } else if (c === 'n') {
      this.literal('null');
    } else {
      this.parseNumber();
    }
  }

  parseObject(): void {
    this.pos++;
    this.skipWs();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return;
    }
    for (;;) {
      this.skipWs();
      if (this.s[this.pos] !== '"') this.fail();
      this.parseString();
      this.skipWs();
      if (this.s[this.pos++] !== ':') this.fail();
      this.skipWs();
      this.parseValue();
      this.skipWs();
      const c = this.s[this.pos++];
      if (c === '}') return;
      if (c !== ',') this.fail();
    }
  }

  literal(word: string): void {
    if (this.s.slice(this.pos, this.pos + word.length) !== word) this.fail();
    this.pos += word.length;
  }

  parseNumber(): void {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.s.slice(this.pos));
    if (m === null || m[0] === '' || m[0] === '-') this.fail();
    if (!Number.isFinite(Number(m[0]))) this.badNumber = true;
    this.pos += m[0].length;
  }

  /** Returns the string's content as a byte string (UTF-8). */
  parseString(): string {
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.s.length) this.fail();
      const code = this.s.charCodeAt(this.pos);
      if (code === 0x22) {
        this.pos++;
        return out;
      }
      if (code < 0x20) this.fail();
      if (code === 0x5c) {
        out += this.parseEscape();
        continue;
      }
      if (code < 0x80) {
        out += this.s[this.pos++];
        continue;
      }
      const [cp, width] = decodeRune(this.s, this.pos);
      out +=
        cp === RUNE_ERROR && width === 1
          ? encodeRune(RUNE_ERROR)
          : this.s.slice(this.pos, this.pos + width);
      this.pos += width;
    }
  }

  parseEscape(): string {
    const c = this.s[this.pos + 1];
    this.pos += 2;
    switch (c) {
      case '"':
        return '"';
      case '\\':
        return '\\';
      case '/':
        return '/';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'u':
        return this.parseUnicodeEscape();
      default:
        return this.fail();
    }
  }

  parseUnicodeEscape(): string {
    const first = this.hex4();
    if (first < 0xd800 || first > 0xdfff) return encodeRune(first);
    if (first <= 0xdbff && this.s.slice(this.pos, this.pos + 2) === '\\u') {
      const save = this.pos;
      this.pos += 2;
      const second = this.hex4();
      if (second >= 0xdc00 && second <= 0xdfff) {
        return encodeRune(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00));
      }
      // Not a low surrogate: Go emits U+FFFD for the first and decodes the second again.
      this.pos = save;
    }
    return encodeRune(RUNE_ERROR);
  }

  hex4(): number {
    const h = this.s.slice(this.pos, this.pos + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail();
    this.pos += 4;
    return Number.parseInt(h, 16);
  }
}
