import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KilnError } from '../src/errors.js';
import { dumpDockerfile, parseDockerfile } from '../src/frontend/dockerfile/index.js';
import { ShellLexer } from '../src/frontend/shell/shell-lexer.js';
import { listCases, readRaw } from './conformance-data.js';

const PARSER = ['buildkit', 'parser'];

test('all 33 BuildKit parser test files give the expected dump', () => {
  const cases = listCases(...PARSER, 'testfiles');
  const failures: string[] = [];
  for (const name of cases) {
    const source = readRaw(...PARSER, 'testfiles', name, 'Dockerfile');
    const expected = readRaw(...PARSER, 'testfiles', name, 'result').toString('utf8');
    try {
      const got = dumpDockerfile(parseDockerfile(source, `${name}/Dockerfile`));
      if (got !== expected) failures.push(`${name}:\n--- got\n${got}--- expected\n${expected}`);
    } catch (err) {
      failures.push(`${name}: threw ${(err as Error).message}`);
    }
  }
  assert.equal(cases.length, 33, `expected 33 cases, found ${cases.length}`);
  assert.deepEqual(failures, [], `${cases.length - failures.length}/${cases.length} pass`);
});

test('all 4 negative parser cases are rejected with a located DockerfileError', () => {
  const cases = listCases(...PARSER, 'testfiles-negative');
  assert.equal(cases.length, 4);
  for (const name of cases) {
    const source = readRaw(...PARSER, 'testfiles-negative', name, 'Dockerfile');
    assert.throws(
      () => parseDockerfile(source, name),
      (err: unknown) => err instanceof KilnError && err.location !== undefined,
      name,
    );
  }
});

test('the line-number case gives lines 5-31 and children at 5-5, 11-12, 17-31', () => {
  const parsed = parseDockerfile(readRaw(...PARSER, 'testfile-line', 'Dockerfile'), 'Dockerfile');
  const spans = parsed.instructions.map((i) => [i.location.line, i.location.endLine]);
  assert.deepEqual(spans, [
    [5, 5],
    [11, 12],
    [17, 31],
  ]);
});

interface EnvCase {
  platform: string;
  input: string;
  expected: string;
  line: number;
}

function envVarCases(): EnvCase[] {
  const text = readRaw('buildkit', 'shell', 'envVarTest').toString('utf8');
  const out: EnvCase[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [platform, input, expected] = line.split('|').map((s) => s.trim());
    assert.ok(platform !== undefined && input !== undefined && expected !== undefined, raw);
    out.push({ platform, input, expected, line: index + 1 });
  });
  return out;
}

const ENV = new Map([
  ['PWD', '/home'],
  ['SHELL', 'bash'],
  ['KOREAN', '한국어'],
  ['NULL', ''],
]);

test('all A and U envVarTest cases expand as BuildKit expands them', () => {
  const cases = envVarCases().filter((c) => c.platform === 'A' || c.platform === 'U');
  const lexer = new ShellLexer();
  const failures: string[] = [];
  for (const c of cases) {
    let got: string;
    try {
      got = lexer.processWord(c.input, ENV);
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      got = 'error';
    }
    if (got !== c.expected)
      failures.push(`line ${c.line}: ${c.input} -> ${got} (want ${c.expected})`);
  }
  assert.ok(cases.length >= 200, `only ${cases.length} cases found`);
  assert.deepEqual(failures, [], `${cases.length - failures.length}/${cases.length} pass`);
});

test('all wordsTest cases split as BuildKit splits them', () => {
  const text = readRaw('buildkit', 'shell', 'wordsTest').toString('utf8');
  const env = new Map<string, string>();
  const lexer = new ShellLexer();
  const failures: string[] = [];
  let count = 0;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#') || raw.trim() === '') continue;
    if (raw.startsWith('ENV ')) {
      const assignment = raw.slice(4);
      const eq = assignment.indexOf('=');
      env.set(assignment.slice(0, eq), assignment.slice(eq + 1));
      continue;
    }
    const bar = raw.indexOf('|');
    const input = raw.slice(0, bar).trim();
    const expected = raw.slice(bar + 1).replace(/^\s+/, '');
    count++;
    let got: string;
    try {
      got = lexer.processWords(input, env).join(',');
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      got = 'error';
    }
    if (got !== expected) failures.push(`${input} -> ${got} (want ${expected})`);
  }
  assert.equal(count, 24, `expected 24 cases, found ${count}`);
  assert.deepEqual(failures, [], `${count - failures.length}/${count} pass`);
});
