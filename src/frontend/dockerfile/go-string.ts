/**
 * Helpers that treat a JS string as a Go string: one UTF-16 unit per byte (a "byte string",
 * as Buffer's latin1 codec produces). BuildKit's parser mixes byte-wise and rune-wise steps, and
 * invalid UTF-8 must survive until the dump prints it as `\xNN`, so the parser works on bytes.
 */

export const RUNE_ERROR = 0xfffd;

/** Bytes of a Buffer (or of a JS string, UTF-8 encoded) as a byte string. */
export function toByteString(source: string | Uint8Array): string {
  const buf = typeof source === 'string' ? Buffer.from(source, 'utf8') : Buffer.from(source);
  return buf.toString('latin1');
}

/** Decodes the UTF-8 of a byte string; each invalid byte becomes U+FFFD, as Go does. */
export function fromByteString(bs: string): string {
  let ascii = true;
  for (let i = 0; i < bs.length; i++) {
    if (bs.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return bs;
  let out = '';
  for (let i = 0; i < bs.length; ) {
    const [cp, width] = decodeRune(bs, i);
    out += String.fromCodePoint(cp);
    i += width;
  }
  return out;
}

/** Go's utf8.DecodeRuneInString at offset `i`: [rune, width]; invalid bytes give [U+FFFD, 1]. */
export function decodeRune(bs: string, i: number): [number, number] {
  const b0 = bs.charCodeAt(i);
  if (b0 < 0x80) return [b0, 1];
  const b1 = i + 1 < bs.length ? bs.charCodeAt(i + 1) : -1;
  const cont = (b: number) => b >= 0x80 && b <= 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    return cont(b1) ? [((b0 & 0x1f) << 6) | (b1 & 0x3f), 2] : [RUNE_ERROR, 1];
  }
  const b2 = i + 2 < bs.length ? bs.charCodeAt(i + 2) : -1;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    if (b1 < lo || b1 > hi || !cont(b2)) return [RUNE_ERROR, 1];
    return [((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f), 3];
  }
  const b3 = i + 3 < bs.length ? bs.charCodeAt(i + 3) : -1;
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    if (b1 < lo || b1 > hi || !cont(b2) || !cont(b3)) return [RUNE_ERROR, 1];
    const cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
    return [cp, 4];
  }
  return [RUNE_ERROR, 1];
}

/** The UTF-8 bytes of one code point, as a byte string (Go's string(rune)). */
export function encodeRune(cp: number): string {
  if (cp < 0x80) return String.fromCharCode(cp);
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) cp = RUNE_ERROR;
  return Buffer.from(String.fromCodePoint(cp), 'utf8').toString('latin1');
}

/** Go's unicode.IsSpace. */
export function isSpaceRune(cp: number): boolean {
  if (cp <= 0xff) {
    return (cp >= 0x09 && cp <= 0x0d) || cp === 0x20 || cp === 0x85 || cp === 0xa0;
  }
  return (
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/** bytes.TrimLeftFunc(s, unicode.IsSpace) on a byte string. */
export function trimLeftSpace(bs: string): string {
  let i = 0;
  while (i < bs.length) {
    const [cp, width] = decodeRune(bs, i);
    if (!isSpaceRune(cp) || (cp === RUNE_ERROR && width === 1)) break;
    i += width;
  }
  return bs.slice(i);
}

/** strings.TrimSpace on a byte string (trailing runes are decoded backwards, as Go does). */
export function trimSpace(bs: string): string {
  const left = trimLeftSpace(bs);
  let end = left.length;
  while (end > 0) {
    const start = lastRuneStart(left, end);
    const [cp, width] = decodeRune(left, start);
    if (start + width !== end || !isSpaceRune(cp)) break;
    end = start;
  }
  return left.slice(0, end);
}

function lastRuneStart(bs: string, end: number): number {
  let start = end - 1;
  const limit = Math.max(0, end - 4);
  while (start > limit && (bs.charCodeAt(start) & 0xc0) === 0x80) start--;
  return start;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's strconv.Quote of a byte string; the result is a byte string. */
export function goQuote(bs: string): string {
  let out = '"';
  for (let i = 0; i < bs.length; ) {
    const [cp, width] = decodeRune(bs, i);
    if (cp === RUNE_ERROR && width === 1) {
      out += `\\x${hex(bs.charCodeAt(i), 2)}`;
      i += 1;
      continue;
    }
    const quoted = quoteRune(cp);
    // Printable runes stay as their UTF-8 bytes: the result is a byte string too.
    out += quoted === undefined ? bs.slice(i, i + width) : quoted;
    i += width;
  }
  return `${out}"`;
}

function quoteRune(cp: number): string | undefined {
  if (cp === 0x22) return '\\"';
  if (cp === 0x5c) return '\\\\';
  if (cp === 0x20 || (cp > 0x20 && cp < 0x7f)) return String.fromCharCode(cp);
  if (cp > 0x7f && PRINTABLE.test(String.fromCodePoint(cp))) return undefined;
  switch (cp) {
    case 0x07:
      return '\\a';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex(cp, 2)}`;
  if (cp < 0x10000) return `\\u${hex(cp, 4)}`;
  return `\\U${hex(cp, 8)}`;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/**
 * Go's regexp.Split(s, n) for a pattern that never matches the empty string. `re` must have the
 * global flag.
 */
export function goSplit(re: RegExp, s: string, n: number): string[] {
  if (n === 0) return [];
  if (s.length === 0) return [''];
  const out: string[] = [];
  let beg = 0;
  let end = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (n > 0 && out.length === n - 1) break;
    end = m.index;
    const mEnd = m.index + m[0].length;
    if (mEnd !== 0) out.push(s.slice(beg, end));
    beg = mEnd;
  }
  if (end !== s.length) out.push(s.slice(beg));
  return out;
}

/** Where each part of goSplit(re, s, n) starts in `s`. */
export function goSplitOffsets(re: RegExp, s: string, n: number): number[] {
  if (n === 0) return [];
  if (s.length === 0) return [0];
  const out: number[] = [];
  let beg = 0;
  let end = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (n > 0 && out.length === n - 1) break;
    end = m.index;
    const mEnd = m.index + m[0].length;
    if (mEnd !== 0) out.push(beg);
    beg = mEnd;
  }
  if (end !== s.length) out.push(beg);
  return out;
}

/** strings.ToLower on a byte string (invalid UTF-8 becomes U+FFFD, as strings.Map does). */
export function goToLower(bs: string): string {
  if (!/[^\x00-\x7f]/.test(bs)) return bs.toLowerCase();
  let out = '';
  for (let i = 0; i < bs.length; ) {
    const [cp, width] = decodeRune(bs, i);
    i += width;
    const lower = String.fromCodePoint(cp).toLowerCase();
    out += encodeRune(
      lower.length === 1 || lower.codePointAt(0)! > 0xffff ? lower.codePointAt(0)! : cp,
    );
  }
  return out;
}
