/**
 * Mutation fuzzing of the parser and the instructions layer, seeded from BuildKit's test
 * Dockerfiles. Every rejection must be a DockerfileError with a location; anything else (a
 * TypeError, a RangeError, a slow input) is a bug. KILN_FUZZ_COUNT sets the number of inputs.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DockerfileError } from '../src/errors.js';
import { dumpDockerfile, parseDockerfile } from '../src/frontend/dockerfile/index.js';
import { parseStages } from '../src/frontend/instructions/index.js';
import { listCases, readRaw } from './conformance-data.js';

const COUNT = Number(process.env.KILN_FUZZ_COUNT ?? 3000);
const PER_INPUT_MS = 500;

const TOKENS = [
  '\\',
  '`',
  '"',
  "'",
  '<<EOF\n',
  '<<-EOF\n',
  '3<<"EOF"\n',
  '\nEOF\n',
  '${',
  '}',
  '$',
  '[',
  ']',
  '\n',
  '\r\n',
  '\t',
  '#',
  '# escape=`\n',
  '--',
  '--mount=',
  '=',
  ' ',
  '\xef\xbb\xbf',
  '\xff',
  'ONBUILD ',
  'RUN ',
  'COPY ',
  'FROM ',
  'ENV ',
  'ARG ',
  'HEALTHCHECK ',
  '\\\n',
  ',',
  ':-',
];

/** A small deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seeds(): Buffer[] {
  const dirs = ['testfiles', 'testfiles-negative'];
  const out: Buffer[] = [];
  for (const dir of dirs) {
    for (const name of listCases('buildkit', 'parser', dir)) {
      out.push(readRaw('buildkit', 'parser', dir, name, 'Dockerfile'));
    }
  }
  out.push(readRaw('buildkit', 'parser', 'testfile-line', 'Dockerfile'));
  return out;
}

function mutate(input: Buffer, pool: Buffer[], rand: () => number): Buffer {
  let buf = Buffer.from(input);
  const steps = 1 + Math.floor(rand() * 4);
  for (let s = 0; s < steps; s++) {
    const at = Math.floor(rand() * (buf.length + 1));
    const choice = rand();
    if (choice < 0.25 && buf.length > 0) {
      const i = Math.min(at, buf.length - 1);
      buf[i] = buf[i]! ^ (1 << Math.floor(rand() * 8));
    } else if (choice < 0.6) {
      const token = Buffer.from(TOKENS[Math.floor(rand() * TOKENS.length)]!, 'latin1');
      buf = Buffer.concat([buf.subarray(0, at), token, buf.subarray(at)]);
    } else if (choice < 0.8) {
      const other = pool[Math.floor(rand() * pool.length)]!;
      const from = Math.floor(rand() * other.length);
      const len = Math.floor(rand() * 80);
      buf = Buffer.concat([
        buf.subarray(0, at),
        other.subarray(from, from + len),
        buf.subarray(at),
      ]);
    } else {
      const len = Math.floor(rand() * 20);
      buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + len)]);
    }
  }
  return buf;
}

function check(input: Buffer): void {
  try {
    const parsed = parseDockerfile(input, 'Dockerfile');
    dumpDockerfile(parsed);
    parseStages(parsed);
  } catch (err) {
    if (err instanceof DockerfileError && err.location !== undefined && err.location.line >= 1)
      return;
    const shown = JSON.stringify(input.toString('latin1'));
    assert.fail(`non-DockerfileError ${String(err)} for input ${shown}\n${(err as Error).stack}`);
  }
}

test(`parser rejects ${COUNT} mutated Dockerfiles only with located DockerfileErrors`, () => {
  const pool = seeds();
  const rand = prng(0x6b696c6e);
  let rejected = 0;
  let slowest = 0;
  for (let i = 0; i < COUNT; i++) {
    const input = mutate(pool[i % pool.length]!, pool, rand);
    const started = performance.now();
    try {
      parseDockerfile(input, 'Dockerfile');
    } catch {
      rejected++;
    }
    check(input);
    const elapsed = performance.now() - started;
    slowest = Math.max(slowest, elapsed);
    assert.ok(elapsed < PER_INPUT_MS, `input ${i} took ${elapsed.toFixed(0)} ms`);
  }
  // Diagnostics for the report: how many inputs ran, how many were rejected.
  console.log(`fuzz: ${COUNT} inputs, ${rejected} rejected, slowest ${slowest.toFixed(1)} ms`);
});
