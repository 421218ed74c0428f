import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DockerfileError } from '../../errors.js';
import { dumpDockerfile, parseDockerfile } from './index.js';

const dumps: [name: string, source: string, dump: string][] = [
  [
    'strips a UTF-8 BOM and CRLF line endings',
    '\xef\xbb\xbfFROM a\r\nRUN b \\\r\n c\r\n',
    '(from "a")\n(run "b  c")\n',
  ],
  [
    'keeps unknown instructions with one empty argument',
    'FROM a\nFOO bar\n',
    '(from "a")\n(foo "")\n',
  ],
  ['falls back to shell form for invalid JSON', 'CMD [a]\n', '(cmd "[a]")\n'],
  ['ignores text after the JSON array like Go json.Decoder', 'CMD ["a"] b\n', '(cmd "a")\n'],
  ['nests ONBUILD without extra parentheses', 'ONBUILD RUN echo x\n', '(onbuild (run "echo x"))\n'],
  ['quotes invalid UTF-8 as \\x bytes', 'RUN a\xff\n', '(run "a\\xff")\n'],
  ['uses the backtick escape from the directive', '# escape=`\nRUN a `\n b\n', '(run "a  b")\n'],
];

for (const [name, source, dump] of dumps) {
  test(name, () => {
    assert.equal(dumpDockerfile(parseDockerfile(Buffer.from(source, 'latin1'), 'D')), dump);
  });
}

test('reads several heredocs of one line with fd, chomp and quoting', () => {
  const src = 'RUN 3<<"A" cat <<-B\n$x\nA\n\tb\n\tB\nFROM c\n';
  const [run, from] = parseDockerfile(src, 'D').instructions;
  assert.deepEqual(run?.heredocs, [
    { name: 'A', content: '$x\n', expand: false, chomp: false, fd: 3 },
    { name: 'B', content: '\tb\n', expand: true, chomp: true, fd: 0 },
  ]);
  assert.equal(run?.location.endLine, 5);
  assert.equal(from?.location.line, 6);
});

test('rejects an unterminated heredoc at the instruction line', () => {
  assert.throws(
    () => parseDockerfile('FROM a\nRUN <<EOF\nx\n', 'D'),
    (err: unknown) => err instanceof DockerfileError && err.location?.line === 2,
  );
});

test('rejects valid JSON that is not an array of strings', () => {
  assert.throws(() => parseDockerfile('CMD ["a", 1]\n', 'D'), /comprised of strings only/);
});

test('rejects a repeated parser directive', () => {
  assert.throws(() => parseDockerfile('# syntax=a\n# syntax=b\nFROM a\n', 'D'), /only one syntax/);
});

test('reports directives and ignores them after the first instruction', () => {
  const parsed = parseDockerfile(
    '# syntax=docker/dockerfile:1\n# check=skip=all\nFROM a\n# escape=`\n',
    'D',
  );
  assert.deepEqual(parsed.directives, {
    syntax: 'docker/dockerfile:1',
    check: 'skip=all',
    escape: '\\',
  });
});

test('warns about empty continuation lines', () => {
  const parsed = parseDockerfile('RUN a \\\n\n b\n', 'D');
  assert.equal(parsed.warnings.length, 1);
  assert.equal(parsed.instructions[0]?.args[0], 'a  b');
});
