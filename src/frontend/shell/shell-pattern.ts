/**
 * Shell wildcard patterns of `${v#p}`, `${v%p}` and `${v/p/r}` as BuildKit evaluates them:
 * `?` is one character, `*` the shortest (or, greedy, longest) string, a backslash escapes
 * `*`, `?` and `\`; bracket expressions are not supported.
 */

import { ShellError } from './shell-error.js';

const REGEX_SPECIAL = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  // Go's `.` stops at a newline (no `s` flag), so the JS translation does too.
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';

  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      out += star;
      continue;
    }
    if (ch === '?') {
      out += '[^\\n]';
      continue;
    }
    if (ch === '\\') {
      const next = chars[i + 1];
      // `}` and `/` are escaped only to get them past the ${} parser; the escape is dropped.
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw new ShellError(`invalid escape '\\${next ?? ''}'`);
      }
      out += `\\${next}`;
      i++;
      continue;
    }
    out += REGEX_SPECIAL.has(ch) || ch === '/' ? `\\${ch}` : ch;
  }
  return new RegExp(out, 'u');
}

function compile(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  try {
    return shellPatternToRegExp(pattern, greedy, anchored);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new ShellError(`invalid pattern (${pattern}) in substitution: ${detail}`);
  }
}

/** `${value#pattern}` / `${value##pattern}`. */
export function trimPrefixPattern(pattern: string, value: string, greedy: boolean): string {
  const m = compile(pattern, greedy, true).exec(value);
  return m === null ? value : value.slice(m.index + m[0].length);
}

/**
 * `${value%pattern}` / `${value%%pattern}`: a regular expression cannot find the shortest match
 * that ends at the right, so both pattern and value are reversed and trimmed from the left.
 */
export function trimSuffixPattern(pattern: string, value: string, greedy: boolean): string {
  const reversed = trimPrefixPattern(reversePattern(pattern), reverse(value), greedy);
  return reverse(reversed);
}

/** `${value/pattern/replacement}` and, with `all`, `${value//pattern/replacement}`. */
export function replacePattern(
  value: string,
  pattern: string,
  replacement: string,
  all: boolean,
): string {
  const re = compile(pattern, true, false);
  if (!all) {
    const m = re.exec(value);
    if (m === null) return value;
    return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
  }
  const global = new RegExp(re.source, 'gu');
  let out = '';
  let last = 0;
  for (let m = global.exec(value); m !== null; m = global.exec(value)) {
    out += value.slice(last, m.index) + replacement;
    last = m.index + m[0].length;
    if (m[0].length === 0) {
      // Go's ReplaceAll steps over one rune after an empty match, like this.
      const cp = value.codePointAt(last);
      if (cp === undefined) break;
      const width = cp > 0xffff ? 2 : 1;
      out += value.slice(last, last + width);
      last += width;
      global.lastIndex = last;
    }
  }
  return out + value.slice(last);
}

/** Reverses a pattern keeping each escape in front of the character it escapes. */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = new Array(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const ch = chars[i]!;
    const at = last - i;
    if (ch === '\\' && i !== last) {
      out[at - 1] = ch;
      out[at] = chars[i + 1]!;
      i += 2;
    } else {
      out[at] = ch;
      i++;
    }
  }
  return out.join('');
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}
