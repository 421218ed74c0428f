/**
 * TLS trust per registry host, as Docker arranges it: the system store
 * (/etc/ssl/certs/ca-certificates.crt, not Node's bundled list, so a corporate proxy's CA works),
 * plus `/etc/docker/certs.d/HOST[:PORT]/` with `*.crt` CAs and `*.cert`/`*.key` client pairs, plus
 * CA files given on the command line (kaniko's `--registry-certificate host=path`).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { extraCaFile } from '../net/extra-ca.js';

export const SYSTEM_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
export const DOCKER_CERTS_DIR = '/etc/docker/certs.d';

export interface TlsSettings {
  systemCaFile?: string;
  certsDir?: string;
  /** Extra CA files per host (HOST[:PORT]). */
  caFiles?: { host: string; path: string }[];
  /** Client certificates per host. */
  clientCertificates?: { host: string; certPath: string; keyPath: string }[];
}

export interface HostTls {
  ca: string[];
  cert?: string;
  key?: string;
  /** Whether anything host-specific was configured (a CA or a client certificate). */
  configured: boolean;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new InputError('TLS_FILE_UNREADABLE', `cannot read ${what} ${file}`, { cause: err });
  }
}

let systemCa: Promise<string[]> | undefined;

/** node:tls loads only here, so a process that never speaks TLS does not load it. */
async function bundledRoots(): Promise<string[]> {
  return [...(await import('node:tls')).rootCertificates];
}

/**
 * The system CA bundle (or Node's bundled roots when the file does not exist), plus the file
 * NODE_EXTRA_CA_CERTS names; an unreadable extra file is skipped, as Node skips it.
 */
export function systemCertificates(
  file = SYSTEM_CA_FILE,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const read = async (): Promise<string[]> => {
    const system = await fs.readFile(file, 'utf8').then((text) => [text], bundledRoots);
    const extra = extraCaFile(env);
    if (extra === undefined) return system;
    return fs.readFile(extra, 'utf8').then(
      (text) => [...system, text],
      () => system,
    );
  };
  if (file !== SYSTEM_CA_FILE || env !== process.env) return read();
  systemCa ??= read();
  return systemCa;
}

async function certsDirEntries(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** Collects the trust and client identity for one host. */
export async function hostTls(host: string, settings: TlsSettings): Promise<HostTls> {
  const ca = [...(await systemCertificates(settings.systemCaFile))];
  const result: HostTls = { ca, configured: false };
  const dir = path.join(settings.certsDir ?? DOCKER_CERTS_DIR, host);
  for (const name of await certsDirEntries(dir)) {
    const file = path.join(dir, name);
    if (name.endsWith('.crt')) {
      ca.push(await readText(file, 'CA certificate'));
      result.configured = true;
    } else if (name.endsWith('.cert')) {
      const keyFile = path.join(dir, `${name.slice(0, -'.cert'.length)}.key`);
      result.cert = await readText(file, 'client certificate');
      result.key = await readText(keyFile, 'client key');
      result.configured = true;
    }
  }
  for (const extra of settings.caFiles ?? []) {
    if (extra.host !== host) continue;
    ca.push(await readText(extra.path, 'CA certificate'));
    result.configured = true;
  }
  for (const pair of settings.clientCertificates ?? []) {
    if (pair.host !== host) continue;
    result.cert = await readText(pair.certPath, 'client certificate');
    result.key = await readText(pair.keyPath, 'client key');
    result.configured = true;
  }
  return result;
}
