#!/usr/bin/env node
/**
 * `npm run conformance`: builds every case under conformance/corpus/ with kiln and with BuildKit
 * (inside Debian's dockerd 20.10, started here on a private socket and data root), unpacks both
 * images with GNU tar, applies whiteouts here (not with kiln's code) and compares the merged
 * filesystems and the image configs. A difference fails its case unless docs/conformance.md lists
 * it under "Deliberate differences". Needs root; run after `npm run build`.
 * Usage: node conformance/run.mjs [case...]   (KILN_CONFORMANCE_KEEP=1 keeps the work directory)
 */
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pushFixture } from '../dist/test/support/images.js';
import { startRegistry } from '../dist/test/support/registry.js';
import { allowed, readAllowList } from './lib/allow-list.mjs';
import { runCase } from './lib/case.mjs';
import { startDockerd, stopDockerd } from './lib/dockerd.mjs';
import { startHttpServer } from './lib/http-server.mjs';
import { startSshAgent } from './lib/ssh-agent.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const corpusDir = join(root, 'conformance', 'corpus');
const kilnBin = join(root, 'dist', 'src', 'cli', 'kiln.mjs');

/** Starts what the cases use, runs each case and stops everything again, even on failure. */
async function runAll(cases, rules, work) {
  const stops = [];
  const results = [];
  try {
    const registry = await startRegistry();
    stops.push(() => registry.stop());
    const base = await pushFixture('busybox', registry.host, 'conformance/busybox:latest');
    // The same layer as busybox for two platforms, one of them not this host's.
    await pushFixture('busybox-multi', registry.host, 'conformance/busybox-multi:latest');
    const http = await startHttpServer(work);
    stops.push(http.stop);
    const ssh = await startSshAgent(work);
    stops.push(ssh.stop);
    const dockerd = await startDockerd(work, registry.host);
    stops.push(() => stopDockerd(dockerd));
    const env = { work, base, registryHost: registry.host, dockerd, http, ssh, corpusDir, kilnBin };
    for (const name of cases) {
      process.stderr.write(`conformance: ${name}\n`);
      try {
        const diffs = (await runCase(name, env)).map((d) => ({
          ...d,
          rule: allowed(rules, name, d),
        }));
        const failed = diffs.filter((d) => !d.rule);
        results.push({ name, status: failed.length ? 'FAIL' : 'pass', diffs });
      } catch (err) {
        results.push({ name, status: 'ERROR', diffs: [], error: err.message });
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
  return results;
}

async function main() {
  if (process.getuid?.() !== 0)
    throw new Error('conformance needs root (dockerd, tar --same-owner)');
  if (!existsSync(kilnBin)) throw new Error(`${kilnBin} is missing: run npm run build`);
  const all = (await fsp.readdir(corpusDir)).sort();
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((c) => !all.includes(c));
  if (unknown.length) throw new Error(`no such case: ${unknown.join(', ')}`);
  const cases = wanted.length ? all.filter((c) => wanted.includes(c)) : all;
  const rules = await readAllowList(join(root, 'docs', 'conformance.md'));
  const work = await fsp.mkdtemp(join(tmpdir(), 'kiln-conformance-'));
  let results;
  try {
    results = await runAll(cases, rules, work);
  } finally {
    if (!process.env.KILN_CONFORMANCE_KEEP) await fsp.rm(work, { recursive: true, force: true });
  }
  printTable(results);
  return results.every((r) => r.status === 'pass') ? 0 : 1;
}

function printTable(results) {
  const w = Math.max(4, ...results.map((r) => r.name.length));
  const lines = [`${'case'.padEnd(w)}  result  differences (kiln | buildkit)`, '-'.repeat(w + 40)];
  for (const r of results) {
    const failing = r.diffs.filter((d) => !d.rule).length;
    const ok = r.diffs.length - failing;
    const summary = r.error ? 'build error' : `${failing} unexplained, ${ok} deliberate`;
    lines.push(`${r.name.padEnd(w)}  ${r.status.padEnd(6)}  ${summary}`);
    if (r.error) for (const l of r.error.split('\n')) lines.push(`${' '.repeat(w + 10)}${l}`);
    for (const d of r.diffs) {
      const tag = d.rule ? '(deliberate) ' : '';
      lines.push(`${' '.repeat(w + 10)}${tag}${d.subject} ${d.attr}: ${d.kiln} | ${d.buildkit}`);
    }
  }
  const passed = results.filter((r) => r.status === 'pass').length;
  lines.push('-'.repeat(w + 40), `${passed}/${results.length} cases pass`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`conformance: ${err.stack ?? err}\n`);
    process.exit(2);
  },
);
