import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DockerfileError } from '../../errors.js';
import { parseDockerfile } from './index.js';
import { argAt, flagAt, keywordAt } from './word-location.js';

const at = (l: { line: number; column: number }) => `${l.line}:${l.column}`;

test('places the keyword of an indented instruction at its own column', () => {
  const [ins] = parseDockerfile('\t  RUN x\n', 'D').instructions;
  assert.equal(at(keywordAt(ins!.location)), '1:4');
});

test('places flags and arguments, also on continuation lines', () => {
  const src = 'COPY --link \\\n   --chmod=755 a \\\n# comment\n  b /dst\n';
  const [ins] = parseDockerfile(src, 'D').instructions;
  const loc = ins!.location;
  assert.equal(at(flagAt(loc, 'link')), '1:6');
  assert.equal(at(flagAt(loc, 'chmod')), '2:4');
  assert.deepEqual(
    ins!.args.map((_, i) => at(argAt(loc, i))),
    ['2:16', '4:3', '4:5'],
  );
});

test('places exec-form elements at their opening quotes', () => {
  const [ins] = parseDockerfile('CMD  [ "a",  "b" ]\n', 'D').instructions;
  assert.deepEqual(
    [0, 1].map((i) => at(argAt(ins!.location, i))),
    ['1:8', '1:14'],
  );
});

test('places ENV keys and values, in characters rather than bytes', () => {
  const [ins] = parseDockerfile('ENV é=1 B="x y"\n', 'D').instructions;
  // key, value, separator triples
  assert.deepEqual(
    [0, 1, 3, 4].map((i) => at(argAt(ins!.location, i))),
    ['1:5', '1:7', '1:9', '1:11'],
  );
});

test("places ONBUILD's inner keyword, flags and arguments", () => {
  const [ins] = parseDockerfile('ONBUILD  COPY --from=x a /b\n', 'D').instructions;
  const inner = ins!.inner!;
  assert.equal(at(keywordAt(inner.location)), '1:10');
  assert.equal(at(flagAt(inner.location, 'from')), '1:15');
  assert.equal(at(argAt(inner.location, 1)), '1:26');
});

test('falls back to the keyword for a word it does not know', () => {
  const [ins] = parseDockerfile('  USER x\n', 'D').instructions;
  assert.equal(at(flagAt(ins!.location, 'chown')), '1:3');
  assert.equal(at(argAt(ins!.location, 5)), '1:3');
});

const errors: [name: string, source: string, where: string][] = [
  ['a JSON element that is not a string', 'CMD ["a",\\\n  true]\n', '2:3'],
  ['a LABEL word without =', 'LABEL a=1 \\\n b\n', '2:2'],
  ['an unterminated second heredoc at its marker', 'RUN <<A 3<<B\nA\nx\n', '1:9'],
  ['a repeated directive at its name', '# escape=\\\n#  escape=`\nFROM a\n', '2:4'],
];

for (const [name, source, where] of errors) {
  test(`reports ${name} at ${where}`, () => {
    assert.throws(
      () => parseDockerfile(source, 'D'),
      (err: unknown) => err instanceof DockerfileError && at(err.location!) === where,
    );
  });
}
