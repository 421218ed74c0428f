import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanPath, findIgnoreFile, IgnoreMatcher } from './ignore-matcher.js';

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
