/**
 * Runs one RUN scenario inside kiln's sandbox and prints a JSON report on stdout. Started by
 * worker-sandbox.test.ts as root and as an unprivileged user; it re-executes itself into the user
 * namespace first, so the busybox root it builds is owned by ids mapped there.
 */

import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runStep } from '../src/worker/sandbox/run-step.js';
import {
  activeIsolation,
  reexecInUserNamespace,
  xattrPrefixFor,
} from '../src/worker/sandbox/userns.js';
import { diffUpperDir } from '../src/worker/snapshot/diff-upper-dir.js';

const code = await reexecInUserNamespace({ isolation: 'auto' });
if (code !== undefined) process.exit(code);

const scenario = process.argv[2] ?? 'changes';
const prefix = xattrPrefixFor(activeIsolation() ?? 'userns');
const base = mkdtempSync(path.join(os.tmpdir(), 'kiln-sandbox-'));
const lower = path.join(base, 'lower');
for (const d of ['bin', 'etc', 'tmp']) mkdirSync(path.join(lower, d), { recursive: true });
copyFileSync('/usr/bin/busybox', path.join(lower, 'bin/busybox'));
for (const applet of [
  'sh',
  'rm',
  'echo',
  'chown',
  'chmod',
  'touch',
  'test',
  'cat',
  'sleep',
  'id',
]) {
  symlinkSync('busybox', path.join(lower, 'bin', applet));
}
writeFileSync(path.join(lower, 'etc/victim'), 'victim\n');
const upper = path.join(base, 'upper');
const work = path.join(base, 'work');
mkdirSync(upper);
mkdirSync(work);

const scripts: Record<string, string> = {
  changes:
    'rm /etc/victim && echo hi > /new && chown 1000:1000 /new && touch /nobody && ' +
    'chown 65534:65534 /nobody && touch /suid && chmod 4755 /suid && ' +
    'test -r /proc/self/status && test -c /dev/null && echo x > /dev/null && test -d /dev/pts',
  exit: 'exit 7',
  abort: 'sleep 4242 & sleep 4242',
  net: 'cat /proc/net/dev',
  user: 'id -u; id -g; id -G',
};
let stdout = '';
const controller = new AbortController();
if (scenario === 'abort') setTimeout(() => controller.abort(), 700);

const report: Record<string, unknown> = { isolation: activeIsolation() };
try {
  const result = await runStep({
    lowerDirs: [lower],
    upperDir: upper,
    workDir: work,
    argv: ['sh', '-c', scripts[scenario] ?? 'false'],
    env: ['PATH=/bin'],
    cwd: '/',
    uid: scenario === 'user' ? 1000 : 0,
    gid: scenario === 'user' ? 1001 : 0,
    additionalGids: scenario === 'user' ? [27, 65534] : [],
    network: scenario === 'net' ? 'none' : 'default',
    hostname: 'kiln-test',
    xattrPrefix: prefix,
    signal: controller.signal,
    onOutput: (_s, chunk) => {
      stdout += chunk.toString();
    },
  });
  report.exitCode = result.exitCode;
  report.created = result.createdMountpoints;
  const entries = await diffUpperDir(upper, {
    ignore: result.createdMountpoints,
    xattrPrefix: prefix,
  });
  report.entries = entries.map(({ entry: e }) => [e.path, e.type, e.mode, e.uid, e.gid, e.size]);
} catch (err) {
  report.error = (err as { code?: string }).code ?? String(err);
}
await new Promise((r) => setTimeout(r, 300));
report.stdout = stdout;
report.leftover = readdirSync('/proc')
  .filter((p) => /^\d+$/.test(p))
  .some((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x004242\x00';
    } catch {
      return false;
    }
  });
rmSync(base, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(report)}\n`);
