/**
 * Go's filepath.Match, which Dockerfile COPY/ADD sources use for wildcards, and the component-wise
 * pattern lists (`**` spanning directories, `!` exceptions) of --exclude.
 */

import { InputError } from '../../errors.js';

function badPattern(pattern: string): InputError {
  return new InputError('COPY_BAD_PATTERN', `syntax error in pattern: ${pattern}`);
}

/** Whether a pattern has Go wildcard characters (an escaped one does not count). */
export function hasWildcard(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** Matches one character class starting after '[' at `p[pi]`; returns [matched, next index]. */
function matchClass(p: string, pi: number, ch: string, pattern: string): [boolean, number] {
  let i = pi;
  let negate = false;
  if (p[i] === '^') {
    negate = true;
    i++;
  }
  let matched = false;
  let first = true;
  for (;;) {
    if (i >= p.length) throw badPattern(pattern);
    if (p[i] === ']' && !first) {
      i++;
      break;
    }
    first = false;
    let lo = p[i] as string;
    if (lo === '\\') {
      i++;
      if (i >= p.length) throw badPattern(pattern);
      lo = p[i] as string;
    } else if (lo === '-' || lo === ']') {
      throw badPattern(pattern);
    }
    i++;
    let hi = lo;
    if (p[i] === '-' && p[i + 1] !== ']') {
      i++;
      hi = p[i] as string;
      if (hi === '\\') {
        i++;
        hi = p[i] as string;
      }
      if (hi === undefined) throw badPattern(pattern);
      i++;
    }
    if (lo <= ch && ch <= hi) matched = true;
  }
  return [matched !== negate, i];
}

/** Go's filepath.Match on '/'-separated names: '*' and '?' never match '/'. */
export function goMatch(pattern: string, name: string): boolean {
  const chars = [...name];
  const p = [...pattern].join('');

  const rec = (pi: number, ni: number): boolean => {
    while (pi < p.length) {
      const c = p[pi] as string;
      if (c === '*') {
        while (p[pi] === '*') pi++;
        for (let k = ni; k <= chars.length; k++) {
          if (rec(pi, k)) return true;
          if (chars[k] === '/') break;
        }
        return false;
      }
      if (ni >= chars.length) {
        // Go reports a malformed class even when the name ran out.
        if (c === '[') matchClass(p, pi + 1, '\0', pattern);
        return false;
      }
      const ch = chars[ni] as string;
      if (c === '?') {
        if (ch === '/') return false;
      } else if (c === '[') {
        if (ch === '/') return false;
        const [ok, next] = matchClass(p, pi + 1, ch, pattern);
        if (!ok) return false;
        pi = next;
        ni++;
        continue;
      } else if (c === '\\') {
        pi++;
        if (pi >= p.length) throw badPattern(pattern);
        if (p[pi] !== ch) return false;
      } else if (c !== ch) {
        return false;
      }
      pi++;
      ni++;
    }
    return ni === chars.length;
  };
  return rec(0, 0);
}

interface CompiledPattern {
  parts: string[];
  exception: boolean;
}

/**
 * An --exclude / .dockerignore style list: a path is excluded when the last pattern matching it
 * (or one of its parent directories) is not an exception.
 */
export class PatternList {
  private readonly patterns: CompiledPattern[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns
      .map((raw) => raw.trim())
      .filter((raw) => raw !== '' && raw !== '!')
      .map((raw) => {
        const exception = raw.startsWith('!');
        const body = (exception ? raw.slice(1) : raw).trim();
        const parts = body.split('/').filter((c) => c !== '' && c !== '.');
        return { parts, exception };
      });
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether any exception pattern exists (then excluded directories must still be walked). */
  get hasExceptions(): boolean {
    return this.patterns.some((p) => p.exception);
  }

  matches(relPath: string): boolean {
    const parts = relPath.split('/').filter((c) => c !== '' && c !== '.');
    let excluded = false;
    for (const pat of this.patterns) {
      let hit = false;
      for (let n = parts.length; n >= 1 && !hit; n--)
        hit = matchParts(pat.parts, parts.slice(0, n));
      if (hit) excluded = !pat.exception;
    }
    return excluded;
  }
}

function matchParts(pat: string[], parts: string[]): boolean {
  if (pat.length === 0) return parts.length === 0;
  const [head, ...rest] = pat as [string, ...string[]];
  if (head === '**') {
    for (let k = 0; k <= parts.length; k++) if (matchParts(rest, parts.slice(k))) return true;
    return false;
  }
  if (parts.length === 0) return false;
  return goMatch(head, parts[0] as string) && matchParts(rest, parts.slice(1));
}
