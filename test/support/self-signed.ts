/** Self-signed EC P-256 certificates made with openssl, for TLS servers and token signing. */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface SelfSigned {
  certPath: string;
  keyPath: string;
}

/**
 * Writes `NAME.key` and `NAME.crt` into dir: CN=NAME, valid for two days, and with
 * `ip` as its subject alternative name when given (what a client checks for 127.0.0.1).
 */
export async function selfSigned(dir: string, name: string, ip?: string): Promise<SelfSigned> {
  const keyPath = path.join(dir, `${name}.key`);
  const certPath = path.join(dir, `${name}.crt`);
  const san = ip === undefined ? [] : ['-addext', `subjectAltName=IP:${ip}`];
  await execFileAsync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${ip ?? name}`,
    ...san,
    '-days',
    '2',
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
  return { certPath, keyPath };
}
