/**
 * .dockerignore with today's moby patternmatcher semantics: patterns are cleaned like Go's
 * filepath.Clean, later patterns override earlier ones, `!` re-includes, and a path is ignored
 * when it or any of its parent directories matches.
 */

import { readFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { InputError } from '../../errors.js';

interface Pattern {
  source: string;
  exclusion: boolean;
  regexp: RegExp;
  /** The literal text before the first wildcard, for the directory-skipping check. */
  literalPrefix: string;
}

/** Go's filepath.Clean for slash-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  let out = posix.normalize(p);
  if (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out === '' ? '.' : out;
}

function compile(pattern: string): RegExp {
  let re = '^';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        // `**/` is the same as `**`.
        if (chars[i + 1] === '/') i++;
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '.' || ch === '$') {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === undefined) {
        re += '\\\\';
      } else {
        re += /[A-Za-z0-9]/.test(next) ? next : `\\${next}`;
        i++;
      }
    } else if (ch === '/') {
      re += '\\/';
    } else {
      // moby passes other characters (including `[`, `]`, `+`, `(`) to the regexp unescaped.
      re += ch;
    }
  }
  try {
    return new RegExp(`${re}$`, 's');
  } catch {
    throw new InputError('DOCKERIGNORE_PATTERN', `syntax error in pattern: ${pattern}`);
  }
}

function literalPrefix(pattern: string): string {
  const m = /[*?[\\]/.exec(pattern);
  return m === null ? pattern : pattern.slice(0, m.index);
}

export class IgnoreMatcher {
  private constructor(private readonly patterns: Pattern[]) {}

  /** Parses .dockerignore text: `#` comment lines, blank lines, `!` exclusions. */
  static parse(text: string): IgnoreMatcher {
    const lines = text.replace(/^\ufeff/, '').split(/\r?\n/);
    const raw: string[] = [];
    for (const line of lines) {
      if (line.startsWith('#')) continue;
      let pattern = line.trim();
      if (pattern === '') continue;
      const invert = pattern.startsWith('!');
      if (invert) pattern = pattern.slice(1).trim();
      if (pattern.length > 0) {
        pattern = cleanPath(pattern);
        if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
      }
      raw.push(invert ? `!${pattern}` : pattern);
    }
    return IgnoreMatcher.fromPatterns(raw);
  }

  static fromPatterns(raw: readonly string[]): IgnoreMatcher {
    const patterns: Pattern[] = [];
    for (let p of raw) {
      p = p.trim();
      if (p === '') continue;
      const exclusion = p.startsWith('!');
      if (exclusion) {
        if (p.length === 1)
          throw new InputError('DOCKERIGNORE_PATTERN', 'illegal exclusion pattern: "!"');
        p = p.slice(1);
      }
      const cleaned = cleanPath(p);
      patterns.push({
        source: cleaned,
        exclusion,
        regexp: compile(cleaned),
        literalPrefix: literalPrefix(cleaned),
      });
    }
    return new IgnoreMatcher(patterns);
  }

  get hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** Whether a context-relative path (slash-separated) is ignored. */
  matches(relPath: string): boolean {
    const file = cleanPath(relPath);
    const parent = posix.dirname(file);
    const parentDirs = parent.split('/');
    let matched = false;
    for (const p of this.patterns) {
      // An inclusion cannot change an already-ignored path, nor an exclusion a kept one.
      if (p.exclusion !== matched) continue;
      let match = p.regexp.test(file);
      if (!match && parent !== '.') {
        for (let i = 0; i < parentDirs.length && !match; i++) {
          match = p.regexp.test(parentDirs.slice(0, i + 1).join('/'));
        }
      }
      if (match) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * Whether a walker must look inside an ignored directory because an exclusion pattern might
   * re-include something below it. False means the whole directory can be skipped.
   */
  mayMatchInside(dirRelPath: string): boolean {
    const dir = `${cleanPath(dirRelPath)}/`;
    if (!this.matches(dirRelPath)) return true;
    return this.patterns.some(
      (p) => p.exclusion && (p.literalPrefix.startsWith(dir) || dir.startsWith(p.literalPrefix)),
    );
  }
}

export interface IgnoreFile {
  path: string;
  matcher: IgnoreMatcher;
}

/**
 * The ignore file for a build: `<Dockerfile name>.dockerignore` beside the Dockerfile wins over
 * the context's `.dockerignore`. Undefined when there is neither.
 */
export async function findIgnoreFile(
  contextDir: string,
  dockerfilePath?: string,
): Promise<IgnoreFile | undefined> {
  const candidates: string[] = [];
  if (dockerfilePath !== undefined && dockerfilePath !== '-') {
    candidates.push(join(dirname(dockerfilePath), `${basename(dockerfilePath)}.dockerignore`));
  }
  candidates.push(join(contextDir, '.dockerignore'));
  for (const path of candidates) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    return { path, matcher: IgnoreMatcher.parse(text) };
  }
  return undefined;
}
