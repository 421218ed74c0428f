/**
 * The differences between kiln's image and BuildKit's: file records path by path, config fields,
 * history lines and the layer count; and a case's own expectations, checked on both images.
 * A difference is `{ subject, attr, kiln, buildkit }`.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';

const FILE_ATTRS = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'rdev', 'target'];
FILE_ATTRS.push('xattrs', 'hardlinks');
const CONFIG_FIELDS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels', 'ExposedPorts'];
CONFIG_FIELDS.push('Volumes', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild');
/** Fields of the image config outside `config`. */
const IMAGE_FIELDS = ['author', 'os', 'architecture', 'variant'];

const show = (v) => (v === undefined ? '(none)' : JSON.stringify(v));
/** Docker writes absent, null, [], {} and "" interchangeably for "not set". */
const norm = (v) =>
  v === null ||
  v === '' ||
  (Array.isArray(v) && v.length === 0) ||
  (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)
    ? undefined
    : v;
const iso = (s) => new Date(s * 1000).toISOString();

export function compareTrees(kiln, bk, buildStartSec) {
  const diffs = [];
  const paths = new Set([...kiln.keys(), ...bk.keys()]);
  for (const p of [...paths].sort()) {
    const k = kiln.get(p);
    const b = bk.get(p);
    if (!k || !b) {
      const kiln = k ? k.type : '(absent)';
      diffs.push({ subject: p, attr: 'exists', kiln, buildkit: b ? b.type : '(absent)' });
      continue;
    }
    for (const a of FILE_ATTRS) {
      if (show(k[a]) !== show(b[a]))
        diffs.push({ subject: p, attr: a, kiln: show(k[a]), buildkit: show(b[a]) });
    }
    // BuildKit keeps the mtime of what it copies (context, other stages, archives, the base,
    // Last-Modified of a URL); an mtime from before its build started is one it preserved.
    if (b.mtime < buildStartSec && k.mtime !== b.mtime) {
      diffs.push({ subject: p, attr: 'mtime', kiln: iso(k.mtime), buildkit: iso(b.mtime) });
    }
  }
  return diffs;
}

export function compareConfigs(kiln, bk) {
  const diffs = [];
  const field = (subject, kv, bv) => {
    const k = show(norm(kv));
    const b = show(norm(bv));
    if (k !== b) diffs.push({ subject, attr: 'value', kiln: k, buildkit: b });
  };
  for (const f of CONFIG_FIELDS) field(`config.${f}`, kiln.image.config?.[f], bk.image.config?.[f]);
  for (const f of IMAGE_FIELDS) field(f, kiln.image[f], bk.image[f]);
  const hist = (img) =>
    (img.history ?? []).map((h) => `${h.empty_layer ? '(empty) ' : ''}${h.created_by ?? ''}`);
  const kh = hist(kiln.image);
  const bh = hist(bk.image);
  for (let i = 0; i < Math.max(kh.length, bh.length); i++) {
    if (kh[i] !== bh[i]) {
      const subject = `history[${i}]`;
      diffs.push({ subject, attr: 'created_by', kiln: show(kh[i]), buildkit: show(bh[i]) });
    }
  }
  if (kiln.layerCount !== bk.layerCount) {
    const [kiln_, buildkit] = [String(kiln.layerCount), String(bk.layerCount)];
    diffs.push({ subject: 'layers', attr: 'count', kiln: kiln_, buildkit });
  }
  return diffs;
}

/**
 * A case's `expect` (build.json) holds in both images: `absent` paths exist in neither,
 * `files` have exactly the given text in both. This catches what both builders could agree on
 * wrongly, such as a cache mount's content leaking into a layer.
 */
export async function checkExpectations(expect, images) {
  const diffs = [];
  const results = {};
  for (const [builder, rootfs] of Object.entries(images)) {
    results[builder] = {};
    for (const p of expect?.absent ?? []) {
      const there = await fsp.lstat(join(rootfs, p)).then(
        () => 'present',
        () => 'absent',
      );
      results[builder][`absent ${p}`] = there;
    }
    for (const [p, want] of Object.entries(expect?.files ?? {})) {
      const got = await fsp.readFile(join(rootfs, p), 'utf8').catch(() => undefined);
      results[builder][`file ${p}`] = got === want ? 'as expected' : show(got);
    }
  }
  for (const key of Object.keys(results.kiln ?? {})) {
    const k = results.kiln[key];
    const b = results.buildkit[key];
    const ok = (v) => v === 'absent' || v === 'as expected';
    if (!ok(k) || !ok(b))
      diffs.push({ subject: `expect ${key}`, attr: 'expect', kiln: k, buildkit: b });
  }
  return diffs;
}
