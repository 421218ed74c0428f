#!/usr/bin/env node
/**
 * `npm run conformance`: builds every case under conformance/corpus/ with kiln and with BuildKit
 * (inside Debian's dockerd 20.10, started here on a private socket and data root), unpacks both
 * images with GNU tar, applies whiteouts here (not with kiln's code) and compares the merged
 * filesystems and the image configs. A difference fails its case unless docs/conformance.md lists
 * it under "Deliberate differences". Needs root; run after `npm run build`.
 * Usage: node conformance/run.mjs [case...]   (KILN_CONFORMANCE_KEEP=1 keeps the work directory)
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  getAttributeSync,
  listAttributesSync,
  removeAttributeSync,
  setAttributeSync,
} from 'fs-xattr';
import { pushFixture } from '../dist/test/support/images.js';
import { startRegistry } from '../dist/test/support/registry.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const corpusDir = join(root, 'conformance', 'corpus');
const kilnBin = join(root, 'dist', 'src', 'cli', 'kiln.mjs');
const DOCKER = '/usr/bin/docker';

/** Runs a command; resolves with its output, rejects with the tail of stderr on failure. */
function run(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.once('error', reject);
    child.once('close', (code) => {
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) return resolvePromise(stdout);
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-25).join('\n');
      reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')} exited ${code}:\n${tail}`));
    });
  });
}

// --- dockerd ---------------------------------------------------------------------------------

async function startDockerd(work, registryHost) {
  const dir = join(work, 'dockerd');
  await fsp.mkdir(join(dir, 'client'), { recursive: true });
  const host = `unix://${join(dir, 'docker.sock')}`;
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '1' };
  env.DOCKER_CONFIG = join(dir, 'client');
  const args = ['--iptables=false', '--ip6tables=false', '--bridge=none', '-H', host];
  args.push('--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'));
  args.push('--pidfile', join(dir, 'dockerd.pid'), '--insecure-registry', registryHost);
  const log = await fsp.open(join(dir, 'dockerd.log'), 'a');
  const daemon = spawn('/usr/sbin/dockerd', args, { stdio: ['ignore', log.fd, log.fd] });
  const docker = (a) => run(DOCKER, a, { env });
  for (let i = 0; i < 100; i++) {
    if (daemon.exitCode !== null) break;
    try {
      await docker(['version']);
      return { docker, env, daemon, log };
    } catch {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  daemon.kill('SIGKILL');
  const tail = (await fsp.readFile(join(dir, 'dockerd.log'), 'utf8')).split('\n').slice(-15);
  throw new Error(`dockerd did not come up on ${host}:\n${tail.join('\n')}`);
}

async function stopDockerd(d) {
  if (d.daemon.exitCode === null) {
    const exited = new Promise((r) => d.daemon.once('exit', r));
    d.daemon.kill('SIGTERM');
    const timer = setTimeout(() => d.daemon.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  await d.log.close();
}

// --- unpacking -------------------------------------------------------------------------------

const TAR_X = ['-x', '-p', '--same-owner', '--numeric-owner', '--xattrs', '--xattrs-include=*'];

/** Unpacks a docker-archive tar: returns the config JSON and the merged root filesystem. */
async function unpackArchive(archive, dir) {
  const outer = join(dir, 'archive');
  await fsp.mkdir(outer, { recursive: true });
  await run('tar', ['-x', '-f', archive, '-C', outer]);
  const manifest = JSON.parse(await fsp.readFile(join(outer, 'manifest.json'), 'utf8'));
  if (manifest.length !== 1) throw new Error(`${archive}: ${manifest.length} images, want 1`);
  const config = JSON.parse(await fsp.readFile(join(outer, manifest[0].Config), 'utf8'));
  const merged = join(dir, 'rootfs');
  await fsp.mkdir(merged);
  for (const [i, layer] of manifest[0].Layers.entries()) {
    const layerDir = join(dir, `layer-${i}`);
    await fsp.mkdir(layerDir);
    // GNU tar detects gzip/zstd compression by itself when reading a file.
    await run('tar', [...TAR_X, '-f', join(outer, layer), '-C', layerDir]);
    await applyLayer(layerDir, merged);
    await fsp.rm(layerDir, { recursive: true, force: true });
  }
  await fsp.rm(outer, { recursive: true, force: true });
  return { config, rootfs: merged, layerCount: manifest[0].Layers.length };
}

/** Moves one extracted layer onto the merged tree, applying the OCI whiteout rules. */
async function applyLayer(layerDir, mergedDir) {
  const names = await fsp.readdir(layerDir);
  if (names.includes('.wh..wh..opq')) {
    for (const n of await fsp.readdir(mergedDir)) {
      await fsp.rm(join(mergedDir, n), { recursive: true, force: true });
    }
  }
  for (const n of names) {
    if (n.startsWith('.wh.')) {
      if (n !== '.wh..wh..opq')
        await fsp.rm(join(mergedDir, n.slice(4)), { recursive: true, force: true });
    }
  }
  for (const n of names) {
    if (n.startsWith('.wh.')) continue;
    const src = join(layerDir, n);
    const dst = join(mergedDir, n);
    const s = await fsp.lstat(src);
    const d = await fsp.lstat(dst).catch(() => undefined);
    if (s.isDirectory() && d?.isDirectory()) {
      await applyLayer(src, dst);
      await copyMeta(src, dst, s);
      continue;
    }
    if (d) await fsp.rm(dst, { recursive: true, force: true });
    await fsp.rename(src, dst);
    if (s.isDirectory()) await stripWhiteouts(dst);
  }
}

/** A directory new in this layer has nothing below it to hide: its markers are dropped. */
async function stripWhiteouts(dir) {
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name.startsWith('.wh.')) await fsp.rm(path, { recursive: true, force: true });
    else if (entry.isDirectory()) await stripWhiteouts(path);
  }
}

async function copyMeta(src, dst, s) {
  await fsp.lchown(dst, s.uid, s.gid);
  await fsp.chmod(dst, s.mode & 0o7777);
  for (const name of listAttributesSync(dst)) {
    if (!name.startsWith('security.')) removeAttributeSync(dst, name);
  }
  for (const name of listAttributesSync(src))
    setAttributeSync(dst, name, getAttributeSync(src, name));
  await fsp.utimes(dst, s.atime, s.mtime);
}

// --- the file records ------------------------------------------------------------------------

function typeOf(s) {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFIFO()) return 'fifo';
  if (s.isCharacterDevice()) return 'chardev';
  if (s.isBlockDevice()) return 'blockdev';
  return 'socket';
}

function sha256(path) {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', rej)
      .on('end', () => {
        res(h.digest('hex'));
      });
  });
}

/** Every path of a tree, keyed by its path inside the image, with what the comparison uses. */
async function describeTree(top) {
  const records = new Map();
  const inodes = new Map();
  async function walk(dir, rel) {
    for (const n of (await fsp.readdir(dir)).sort()) {
      const path = join(dir, n);
      const key = `${rel}/${n}`;
      const s = await fsp.lstat(path);
      const r = {
        type: typeOf(s),
        mode: (s.mode & 0o7777).toString(8).padStart(4, '0'),
        uid: s.uid,
        gid: s.gid,
        mtime: Math.floor(s.mtimeMs / 1000),
      };
      if (r.type === 'file') {
        r.size = s.size;
        r.sha256 = await sha256(path);
        if (s.nlink > 1) {
          const group = inodes.get(s.ino) ?? [];
          group.push(key);
          inodes.set(s.ino, group);
          r.ino = s.ino;
        }
      }
      if (r.type === 'symlink') r.target = await fsp.readlink(path);
      if (r.type !== 'symlink') {
        const xattrs = listAttributesSync(path).sort();
        r.xattrs = xattrs
          .map((x) => `${x}=${getAttributeSync(path, x).toString('base64')}`)
          .join(',');
      }
      records.set(key, r);
      if (r.type === 'dir') await walk(path, key);
    }
  }
  await walk(top, '');
  for (const r of records.values()) {
    if (r.ino !== undefined) r.hardlinks = inodes.get(r.ino).join(' ');
    delete r.ino;
  }
  return records;
}

// --- comparison ------------------------------------------------------------------------------

const FILE_ATTRS = [
  'type',
  'mode',
  'uid',
  'gid',
  'size',
  'sha256',
  'target',
  'xattrs',
  'hardlinks',
];
const CONFIG_FIELDS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels', 'ExposedPorts'];
CONFIG_FIELDS.push('Volumes', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild');

const show = (v) => (v === undefined ? '(none)' : JSON.stringify(v));
/** Docker writes absent, null, [] and {} interchangeably for "not set". */
const norm = (v) =>
  v === null ||
  (Array.isArray(v) && v.length === 0) ||
  (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) ||
  v === ''
    ? undefined
    : v;

function compareTrees(kiln, bk, buildStartSec) {
  const diffs = [];
  const paths = new Set([...kiln.keys(), ...bk.keys()]);
  for (const p of [...paths].sort()) {
    const k = kiln.get(p);
    const b = bk.get(p);
    if (!k || !b) {
      diffs.push({
        subject: p,
        attr: 'exists',
        kiln: k ? k.type : '(absent)',
        buildkit: b ? b.type : '(absent)',
      });
      continue;
    }
    for (const a of FILE_ATTRS) {
      if (show(k[a]) !== show(b[a]))
        diffs.push({ subject: p, attr: a, kiln: show(k[a]), buildkit: show(b[a]) });
    }
    // BuildKit keeps the mtime of what it copies (context, other stages, archives, the base);
    // an mtime from before its build started is one it preserved, so kiln must match it.
    if (b.mtime < buildStartSec && k.mtime !== b.mtime) {
      diffs.push({ subject: p, attr: 'mtime', kiln: iso(k.mtime), buildkit: iso(b.mtime) });
    }
  }
  return diffs;
}

const iso = (s) => new Date(s * 1000).toISOString();

function compareConfigs(kiln, bk) {
  const diffs = [];
  for (const f of CONFIG_FIELDS) {
    const k = show(norm(kiln.image.config?.[f]));
    const b = show(norm(bk.image.config?.[f]));
    if (k !== b) diffs.push({ subject: `config.${f}`, attr: 'value', kiln: k, buildkit: b });
  }
  const hist = (img) =>
    (img.history ?? []).map((h) => `${h.empty_layer ? '(empty) ' : ''}${h.created_by ?? ''}`);
  const kh = hist(kiln.image);
  const bh = hist(bk.image);
  for (let i = 0; i < Math.max(kh.length, bh.length); i++) {
    if (kh[i] !== bh[i])
      diffs.push({
        subject: `history[${i}]`,
        attr: 'created_by',
        kiln: show(kh[i]),
        buildkit: show(bh[i]),
      });
  }
  if (kiln.layerCount !== bk.layerCount) {
    diffs.push({
      subject: 'layers',
      attr: 'count',
      kiln: String(kiln.layerCount),
      buildkit: String(bk.layerCount),
    });
  }
  return diffs;
}

// --- deliberate differences ------------------------------------------------------------------

/**
 * Lines of docs/conformance.md's "Deliberate differences" section:
 *   - `case-or-*` `subject-glob` `attr-or-*` — reason
 */
async function readAllowList() {
  const text = await fsp.readFile(join(root, 'docs', 'conformance.md'), 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('Deliberate differences')) ?? '';
  const rules = [];
  for (const line of section.split('\n')) {
    const m = /^- `([^`]+)` `([^`]+)` `([^`]+)`\s+(?:—|--|-)\s*(\S.*)$/.exec(line);
    if (m) rules.push({ kase: m[1], subject: glob(m[2]), attr: m[3], reason: m[4] });
  }
  return rules;
}

function glob(pattern) {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*\*/g, '\u0000')
    .replace(/\*/g, '[^/]*');
  return new RegExp(`^${re.replace(/\u0000/g, '.*').replace(/\?/g, '.')}$`);
}

function allowed(rules, kase, d) {
  return rules.find(
    (r) =>
      (r.kase === '*' || r.kase === kase) &&
      r.subject.test(d.subject) &&
      (r.attr === '*' || r.attr === d.attr),
  );
}

// --- one case --------------------------------------------------------------------------------

async function runCase(name, env) {
  const work = join(env.work, 'cases', name);
  const ctx = join(work, 'context');
  await fsp.mkdir(work, { recursive: true });
  await run('cp', ['-a', join(corpusDir, name), ctx]);
  if (existsSync(join(ctx, 'setup.sh'))) {
    await run('sh', [join(ctx, 'setup.sh')], { cwd: ctx });
    await fsp.rm(join(ctx, 'setup.sh'));
  }
  const buildArg = ['--build-arg', `BASE=${env.base}`];

  const kilnTar = join(work, 'kiln.tar');
  const kargs = [kilnBin, 'build', '--progress=plain', '--cache-dir', join(env.work, 'kiln-cache')];
  kargs.push(
    '--insecure-registry',
    env.registryHost,
    '--network=host',
    ...buildArg,
    '-t',
    `conf/${name}`,
  );
  kargs.push('-o', `type=docker,dest=${kilnTar}`, ctx);
  await run(process.execPath, kargs);

  const buildStartSec = Math.floor(Date.now() / 1000);
  await env.dockerd.docker([
    'build',
    '--progress=plain',
    '--network=host',
    ...buildArg,
    '-t',
    `conf/${name}`,
    ctx,
  ]);
  const bkTar = join(work, 'buildkit.tar');
  await env.dockerd.docker(['save', '-o', bkTar, `conf/${name}`]);

  const kiln = await unpackArchive(kilnTar, join(work, 'kiln'));
  const bk = await unpackArchive(bkTar, join(work, 'buildkit'));
  kiln.image = kiln.config;
  bk.image = bk.config;
  const diffs = compareConfigs(kiln, bk);
  diffs.push(
    ...compareTrees(await describeTree(kiln.rootfs), await describeTree(bk.rootfs), buildStartSec),
  );
  if (!process.env.KILN_CONFORMANCE_KEEP) await fsp.rm(work, { recursive: true, force: true });
  return diffs;
}

// --- main ------------------------------------------------------------------------------------

async function main() {
  if (process.getuid?.() !== 0)
    throw new Error('conformance needs root (dockerd, tar --same-owner)');
  if (!existsSync(kilnBin)) throw new Error(`${kilnBin} is missing: run npm run build`);
  const all = (await fsp.readdir(corpusDir)).sort();
  const wanted = process.argv.slice(2);
  const cases = wanted.length ? all.filter((c) => wanted.includes(c)) : all;
  const rules = await readAllowList();
  const work = await fsp.mkdtemp(join(tmpdir(), 'kiln-conformance-'));
  const registry = await startRegistry();
  let dockerd;
  const results = [];
  try {
    const base = await pushFixture('busybox', registry.host, 'conformance/busybox:latest');
    dockerd = await startDockerd(work, registry.host);
    const env = { work, base, registryHost: registry.host, dockerd };
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
    if (dockerd) await stopDockerd(dockerd);
    await registry.stop();
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
