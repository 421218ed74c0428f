import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanPath, compilePattern, findIgnoreFile, IgnoreMatcher } from './ignore-matcher.js';

const cases: [patterns: string, path: string, ignored: boolean][] = [
  ['node_modules', 'node_modules', true],
  ['node_modules', 'node_modules/a/b.js', true],
  ['node_modules', 'src/node_modules', false],
  ['**/node_modules', 'src/node_modules/x', true],
  ['*.md\n!README.md', 'README.md', false],
  ['*.md\n!README.md', 'CHANGES.md', true],
  ['/abs/path', 'abs/path', true],
  ['./dot/path', 'dot/path/file', true],
  ['# comment\n\n  spaced   ', 'spaced', true],
  ['#comment', '#comment', false],
  ['docs/**/*.txt', 'docs/a/b/c.txt', true],
  ['docs/**/*.txt', 'docs/c.txt', true],
  ['a?c', 'abc', true],
  ['a?c', 'a/c', false],
  ['*', 'x/y', true],
  ['dir\n!dir/keep', 'dir/keep', false],
  ['dir\n!dir/keep', 'dir/other', true],
  ['**', 'anything/at/all', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'axb', false],
];

test('matches paths with moby patternmatcher semantics', () => {
  for (const [patterns, path, ignored] of cases) {
    assert.equal(IgnoreMatcher.parse(patterns).matches(path), ignored, `${patterns} vs ${path}`);
  }
});

test('cleans patterns like Go filepath.Clean', () => {
  assert.equal(cleanPath('a//b/./c/'), 'a/b/c');
  assert.equal(cleanPath('./a/../b'), 'b');
  assert.equal(cleanPath(''), '.');
});

test('lets a walker skip an ignored directory only when no exclusion can re-include inside', () => {
  const m = IgnoreMatcher.parse('build\nvendor\n!vendor/keep.txt');
  assert.equal(m.mayMatchInside('build'), false);
  assert.equal(m.mayMatchInside('vendor'), true);
  assert.equal(m.mayMatchInside('src'), true);
});

test('rejects a bare exclusion pattern', () => {
  assert.throws(() => IgnoreMatcher.parse('!'), /illegal exclusion pattern/);
});

test('prefers <Dockerfile>.dockerignore over the context .dockerignore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-ignore-'));
  try {
    await writeFile(join(dir, '.dockerignore'), 'from-context\n');
    assert.equal(
      (await findIgnoreFile(dir, join(dir, 'app.Dockerfile')))?.path,
      join(dir, '.dockerignore'),
    );
    await writeFile(join(dir, 'app.Dockerfile.dockerignore'), 'from-dockerfile\n');
    const found = await findIgnoreFile(dir, join(dir, 'app.Dockerfile'));
    assert.equal(found?.path, join(dir, 'app.Dockerfile.dockerignore'));
    assert.equal(found?.matcher.matches('from-dockerfile'), true);
    assert.equal(found?.matcher.matches('from-context'), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** moby's MatchesOrParentMatches written plainly: every pattern against the path and each parent. */
function referenceMatches(patterns: string[], path: string): boolean {
  const file = cleanPath(path);
  const parts = file.split('/');
  let matched = false;
  for (const raw of patterns) {
    const exclusion = raw.startsWith('!');
    const regexp = compilePattern(cleanPath(exclusion ? raw.slice(1) : raw));
    let match = regexp.test(file);
    for (let i = 1; i < parts.length && !match; i++)
      match = regexp.test(parts.slice(0, i).join('/'));
    if (match) matched = !exclusion;
  }
  return matched;
}

test('gives the same answers as testing every parent directory, over random patterns', () => {
  // xorshift32 with a fixed seed: the same cases every run.
  let state = 0x2545f491;
  const random = (n: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[random(xs.length)]!;
  const pieces = ['a', 'b', 'ab', '.', '..', '*', '**', '?', '/', '[ab]', '\\*', 'x.y', '-', ''];
  const names = ['a', 'b', 'ab', 'x.y', 'a*b', '.a', 'b-a'];
  const word = (n: number) => Array.from({ length: 1 + random(n) }, () => pick(pieces)).join('');
  for (let round = 0; round < 400; round++) {
    const patterns = Array.from(
      { length: 1 + random(4) },
      () => (random(4) === 0 ? '!' : '') + word(5),
    ).filter((p) => p !== '!' && p.replace('!', '').trim() !== '');
    let matcher: IgnoreMatcher;
    try {
      matcher = IgnoreMatcher.fromPatterns(patterns);
    } catch {
      continue;
    }
    for (let k = 0; k < 30; k++) {
      const path = Array.from({ length: 1 + random(4) }, () => pick(names)).join('/');
      const want = referenceMatches(patterns, path);
      assert.equal(matcher.matches(path), want, `${JSON.stringify(patterns)} vs ${path}`);
    }
  }
});
