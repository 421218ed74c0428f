import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { debugParse } from './debug-parse.js';

function capture(input = '') {
  const out: string[] = [];
  const err: string[] = [];
  return {
    streams: {
      stdin: Readable.from([Buffer.from(input)]),
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
    },
    out,
    err,
  };
}

test('prints the dump of a Dockerfile read from stdin and exits 0', async () => {
  const c = capture('FROM busybox\nFOO bar\nRUN ["echo", "x"]\n');
  assert.equal(await debugParse('-', c.streams), 0);
  assert.equal(c.out.join(''), '(from "busybox")\n(foo "")\n(run "echo" "x")\n');
});

test('reports a Dockerfile error at file:line:column of the word on stderr and exits 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-debug-'));
  try {
    const file = join(dir, 'Dockerfile');
    await writeFile(file, 'FROM a\nENV PATH\n');
    const c = capture();
    assert.equal(await debugParse(file, c.streams), 2);
    assert.equal(c.out.join(''), '');
    assert.match(c.err.join(''), new RegExp(`${file}:2:5: ENV must have two arguments`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('exits 2 when the file cannot be read', async () => {
  const c = capture();
  assert.equal(await debugParse('/nonexistent/Dockerfile', c.streams), 2);
  assert.match(c.err.join(''), /cannot read/);
});
