/**
 * Manifests and configs serialized byte for byte as Go's encoding/json writes the Go structs of the
 * OCI image-spec: members in struct field order, `omitempty` members left out when empty, map keys
 * sorted, and '<', '>', '&', U+2028, U+2029 escaped as \u003c etc. Registries and other tools hash
 * these bytes, so the same image must always produce the same JSON.
 */
import type {
  ContainerConfig,
  Descriptor,
  HealthConfig,
  History,
  ImageConfig,
  Index,
  Manifest,
  Platform,
} from './oci-types.js';

/** JSON.stringify with Go's HTML-safe escapes. Object members keep their insertion order. */
export function goJsonStringify(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (ch) => {
    return '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0');
  });
}

type Json = Record<string, unknown>;

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') {
    return true;
  }
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value as object).length === 0;
  return false;
}

/** Builds an object from [key, value, omitempty] triples in order. */
function struct(fields: Array<[string, unknown, boolean]>): Json {
  const out: Json = {};
  for (const [key, value, omitEmpty] of fields) {
    if (value === undefined) continue;
    if (omitEmpty && isEmpty(value)) continue;
    out[key] = value;
  }
  return out;
}

function sortedMap<T>(map: Record<string, T> | undefined): Record<string, T> | undefined {
  if (map === undefined) return undefined;
  const out: Record<string, T> = {};
  for (const key of Object.keys(map).sort()) out[key] = map[key]!;
  return out;
}

function platformJson(p: Platform | undefined): Json | undefined {
  if (p === undefined) return undefined;
  return struct([
    ['architecture', p.architecture, false],
    ['os', p.os, false],
    ['os.version', p['os.version'], true],
    ['os.features', p['os.features'], true],
    ['variant', p.variant, true],
  ]);
}

export function descriptorJson(d: Descriptor): Json {
  return struct([
    ['mediaType', d.mediaType, false],
    ['digest', d.digest, false],
    ['size', d.size, false],
    ['urls', d.urls, true],
    ['annotations', sortedMap(d.annotations), true],
    ['data', d.data, true],
    ['platform', platformJson(d.platform), true],
    ['artifactType', d.artifactType, true],
  ]);
}

export function manifestJson(m: Manifest): Json {
  return struct([
    ['schemaVersion', m.schemaVersion, false],
    ['mediaType', m.mediaType, true],
    ['artifactType', m.artifactType, true],
    ['config', descriptorJson(m.config), false],
    ['layers', m.layers.map(descriptorJson), false],
    ['subject', m.subject === undefined ? undefined : descriptorJson(m.subject), true],
    ['annotations', sortedMap(m.annotations), true],
  ]);
}

export function indexJson(i: Index): Json {
  return struct([
    ['schemaVersion', i.schemaVersion, false],
    ['mediaType', i.mediaType, true],
    ['artifactType', i.artifactType, true],
    ['manifests', i.manifests.map(descriptorJson), false],
    ['subject', i.subject === undefined ? undefined : descriptorJson(i.subject), true],
    ['annotations', sortedMap(i.annotations), true],
  ]);
}

function healthJson(h: HealthConfig | undefined): Json | undefined {
  if (h === undefined) return undefined;
  return struct([
    ['Test', h.Test, true],
    ['Interval', h.Interval, true],
    ['Timeout', h.Timeout, true],
    ['StartPeriod', h.StartPeriod, true],
    ['StartInterval', h.StartInterval, true],
    ['Retries', h.Retries, true],
  ]);
}

/**
 * The `config` member in the field order of the OCI ImageConfig struct followed by Docker's
 * extension fields (Healthcheck, OnBuild, Shell), as moby's DockerOCIImageConfig embeds them.
 */
export function containerConfigJson(c: ContainerConfig): Json {
  return struct([
    ['User', c.User, true],
    ['ExposedPorts', sortedMap(c.ExposedPorts), true],
    ['Env', c.Env, true],
    ['Entrypoint', c.Entrypoint, true],
    ['Cmd', c.Cmd, true],
    ['Volumes', sortedMap(c.Volumes), true],
    ['WorkingDir', c.WorkingDir, true],
    ['Labels', sortedMap(c.Labels), true],
    ['StopSignal', c.StopSignal, true],
    ['ArgsEscaped', c.ArgsEscaped, true],
    ['Healthcheck', healthJson(c.Healthcheck), true],
    ['OnBuild', c.OnBuild, true],
    ['Shell', c.Shell, true],
  ]);
}

function historyJson(h: History): Json {
  return struct([
    ['created', h.created, true],
    ['created_by', h.created_by, true],
    ['author', h.author, true],
    ['comment', h.comment, true],
    ['empty_layer', h.empty_layer, true],
  ]);
}

export function imageConfigJson(c: ImageConfig): Json {
  return struct([
    ['created', c.created, true],
    ['author', c.author, true],
    ['architecture', c.architecture, false],
    ['os', c.os, false],
    ['os.version', c['os.version'], true],
    ['os.features', c['os.features'], true],
    ['variant', c.variant, true],
    // Go's omitempty never omits a struct value, so `config` is always present.
    ['config', containerConfigJson(c.config ?? {}), false],
    ['rootfs', { type: c.rootfs.type, diff_ids: c.rootfs.diff_ids }, false],
    ['history', c.history?.map(historyJson), true],
  ]);
}

/** The bytes kiln stores and hashes for a manifest. */
export function serializeManifest(m: Manifest): Buffer {
  return Buffer.from(goJsonStringify(manifestJson(m)));
}

export function serializeIndex(i: Index): Buffer {
  return Buffer.from(goJsonStringify(indexJson(i)));
}

export function serializeImageConfig(c: ImageConfig): Buffer {
  return Buffer.from(goJsonStringify(imageConfigJson(c)));
}
