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
  /** Whether the pattern matches `path`, which has `slashes` slashes. */
  test: (path: string, slashes: number) => boolean;
}

/**
 * Patterns made of these characters compile to a regexp in which only the pattern's own slashes
 * match a slash (no `**`, no character class, no regexp operator passed through): such a pattern
 * can only match a path with as many slashes, and without `*` or `?` only the pattern itself.
 */
const PLAIN = /^[A-Za-z0-9._~@,=%: /-]*$/;
const SINGLE_WILDCARDS = /^[A-Za-z0-9._~@,=%: /*?-]*$/;

/** The test for a cleaned pattern: string equality or a slash count before the regexp. */
function tester(pattern: string, regexp: RegExp): Pattern['test'] {
  if (PLAIN.test(pattern)) return (path) => path === pattern;
  if (SINGLE_WILDCARDS.test(pattern) && !pattern.includes('**')) {
    const slashes = countSlashes(pattern);
    return (path, n) => n === slashes && regexp.test(path);
  }
  return (path) => regexp.test(path);
}

function countSlashes(path: string): number {
  let n = 0;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) n++;
  return n;
}

/** A path that filepath.Clean leaves as it is: no empty, `.` or `..` part, no trailing slash. */
const UNCLEAN = /\/\/|(^|\/)\.\.?(\/|$)|\/$/;

/** Ancestor results kept per directory; a walk visits far fewer directories than this. */
const MAX_MEMO = 8192;

/** Go's filepath.Clean for slash-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  let out = posix.normalize(p);
  if (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out === '' ? '.' : out;
}

/** The regexp of a cleaned pattern, built as moby's patternmatcher builds it. */
export function compilePattern(pattern: string): RegExp {
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
  /** Per directory, which patterns match it or one of its parents (1) or not (0). */
  private readonly ancestorMemo = new Map<string, Uint8Array>();
  private lastDir: string | undefined;
  private lastAncestors: Uint8Array = new Uint8Array(0);

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
      const regexp = compilePattern(cleaned);
      patterns.push({
        source: cleaned,
        exclusion,
        regexp,
        literalPrefix: literalPrefix(cleaned),
        test: tester(cleaned, regexp),
      });
    }
    return new IgnoreMatcher(patterns);
  }

  get hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /**
   * Whether a context-relative path (slash-separated) is ignored: the last pattern that matches
   * the path or one of its parent directories decides. What the parents match is remembered per
   * directory, so a walk tests each pattern once per file instead of once per path component.
   */
  matches(relPath: string): boolean {
    if (this.patterns.length === 0) return false;
    const file = relPath !== '' && !UNCLEAN.test(relPath) ? relPath : cleanPath(relPath);
    const slash = file.lastIndexOf('/');
    const parent = slash > 0 ? file.slice(0, slash) : posix.dirname(file);
    const ancestors = parent === '.' ? undefined : this.ancestors(parent);
    const slashes = countSlashes(file);
    let matched = false;
    for (let i = 0; i < this.patterns.length; i++) {
      const p = this.patterns[i]!;
      // An inclusion cannot change an already-ignored path, nor an exclusion a kept one.
      if (p.exclusion !== matched) continue;
      if (ancestors?.[i] === 1 || p.test(file, slashes)) matched = !p.exclusion;
    }
    return matched;
  }

  /** For each pattern, whether it matches `dir` or a path made of its leading components. */
  private ancestors(dir: string): Uint8Array {
    if (dir === this.lastDir) return this.lastAncestors;
    let found = this.ancestorMemo.get(dir);
    if (!found) {
      const slash = dir.lastIndexOf('/');
      const above = slash === -1 ? undefined : this.ancestors(dir.slice(0, slash));
      found = new Uint8Array(this.patterns.length);
      const slashes = countSlashes(dir);
      for (let i = 0; i < this.patterns.length; i++) {
        found[i] = above?.[i] === 1 || this.patterns[i]!.test(dir, slashes) ? 1 : 0;
      }
      if (this.ancestorMemo.size >= MAX_MEMO) this.ancestorMemo.clear();
      this.ancestorMemo.set(dir, found);
    }
    this.lastDir = dir;
    this.lastAncestors = found;
    return found;
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
