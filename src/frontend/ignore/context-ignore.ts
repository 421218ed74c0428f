import { lstatSync } from 'node:fs';
import path from 'node:path';
import type { IgnoreMatcher } from './ignore-matcher.js';

/**
 * The .dockerignore predicate for walking a build context (`true` = leave the path out). A path
 * the patterns exclude is left out, except a directory below which an exception (`!pattern`) may
 * re-include something: that directory is kept and walked, its children decided one by one, as
 * BuildKit's context transfer walks it. So `dir` with `!dir/keep.txt` still gives `dir/keep.txt`.
 */
export function contextIgnore(matcher: IgnoreMatcher, root: string): (relPath: string) => boolean {
  if (!matcher.hasExclusions) return (rel) => matcher.matches(rel);
  return (rel) => {
    if (!matcher.matches(rel)) return false;
    if (!matcher.mayMatchInside(rel)) return true;
    // Only a directory has an inside: the extra stat is paid for excluded paths only.
    return lstatSync(path.join(root, rel), { throwIfNoEntry: false })?.isDirectory() !== true;
  };
}
