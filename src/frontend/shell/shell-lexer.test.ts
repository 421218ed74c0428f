// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${} is the shell syntax under test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShellError } from './shell-error.js';
import { expandWord, expandWordWithMatches, ShellLexer } from './shell-lexer.js';

const env = { v: 'foo/bar/baz.tar.gz', empty: '' };

const cases: [word: string, expected: string][] = [
  ['${v#*/}', 'bar/baz.tar.gz'],
  ['${v##*/}', 'baz.tar.gz'],
  ['${v%.*}', 'foo/bar/baz.tar'],
  ['${v%%.*}', 'foo/bar/baz'],
  ['${v/a/A}', 'foo/bAr/baz.tar.gz'],
  ['${v//a/A}', 'foo/bAr/bAz.tAr.gz'],
  ['${unset-x}', 'x'],
  ['${empty-x}', ''],
  ['${empty:-x}', 'x'],
  ['${empty+x}', 'x'],
  ['${empty:+x}', ''],
];

for (const [word, expected] of cases) {
  test(`expands ${word} to ${JSON.stringify(expected)}`, () => {
    assert.equal(expandWord(word, env), expected);
  });
}

test('fails ${v:?msg} when the variable is empty, with the message', () => {
  assert.throws(() => expandWord('${empty:?must be set}', env), ShellError);
  assert.throws(() => expandWord('${empty:?must be set}', env), /empty: must be set/);
});

test('uses the backtick as escape character when asked', () => {
  assert.equal(expandWord('a`$v', env, '`'), 'a$v');
});

test('reports matched and unmatched variables', () => {
  const r = expandWordWithMatches('$v ${nope:-x}', env);
  assert.deepEqual([...r.matched], ['v']);
  assert.deepEqual([...r.unmatched], ['nope']);
});

test('keeps unset references with skipUnsetEnv', () => {
  const lexer = new ShellLexer({ skipUnsetEnv: true });
  assert.equal(lexer.processWord('$a ${b:-c}', new Map()), '$a ${b:-c}');
});
