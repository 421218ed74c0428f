/**
 * A small token server for distribution's `auth: token` mode, on loopback, for tests only. It
 * implements the Docker token flow: GET REALM?service=S&scope=repository:NAME:ACTIONS with optional
 * Basic credentials answers `{"token": JWT}`. The JWT is ES256-signed and carries its certificate in
 * the `x5c` header; the registry trusts it because that self-signed certificate is its
 * `rootcertbundle`.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { selfSigned } from './self-signed.js';

/** A signing key and its self-signed certificate, both as PEM files and in memory. */
export interface SigningKey {
  keyPem: string;
  certPem: string;
  certPath: string;
}

export interface TokenUser {
  user: string;
  password: string;
}

/** One entry of a token's `access` claim, as distribution reads it. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/**
 * Decides which actions a token grants. `user` is undefined for an anonymous request. The default
 * grants authenticated users every action they ask for and anonymous callers nothing.
 */
export type GrantPolicy = (
  user: string | undefined,
  repository: string,
  actions: string[],
) => string[];

export interface TokenServerOptions {
  dir: string;
  service: string;
  issuer?: string;
  users?: TokenUser[];
  grant?: GrantPolicy;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  key: SigningKey;
  /** Every scope string requested so far, in order, for assertions on the client's flow. */
  requests: { user: string | undefined; scopes: string[] }[];
  stop(): Promise<void>;
}

/** Generates an EC P-256 key and a self-signed certificate with openssl, in `dir`. */
export async function createSigningKey(dir: string, name: string): Promise<SigningKey> {
  const { keyPath, certPath } = await selfSigned(dir, name);
  return {
    keyPem: await fs.readFile(keyPath, 'utf8'),
    certPem: await fs.readFile(certPath, 'utf8'),
    certPath,
  };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export interface TokenClaims {
  issuer: string;
  audience: string;
  subject?: string;
  access: TokenAccess[];
  /** Seconds of validity; negative values make an already expired token. */
  ttl?: number;
}

/** Signs a registry token with `key`. Exported so tests can forge tokens with a wrong key. */
export function signToken(key: SigningKey, claims: TokenClaims): string {
  const cert = new crypto.X509Certificate(key.certPem);
  const header = { typ: 'JWT', alg: 'ES256', x5c: [cert.raw.toString('base64')] };
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: claims.issuer,
    sub: claims.subject ?? '',
    // distribution 2.8 reads `aud` as a single string.
    aud: claims.audience,
    exp: now + (claims.ttl ?? 300),
    nbf: now - 10,
    iat: now,
    jti: crypto.randomUUID(),
    access: claims.access,
  };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  // JOSE wants the raw r||s form of an ECDSA signature, not DER.
  const signature = crypto.sign('sha256', Buffer.from(signingInput), {
    key: key.keyPem,
    dsaEncoding: 'ieee-p1363',
  });
  return `${signingInput}.${base64url(signature)}`;
}

/** Parses `repository:NAME:pull,push` scopes; other resource types are ignored. */
function parseScope(scope: string): { name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first || scope.slice(0, first) !== 'repository') return undefined;
  return { name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',') };
}

function authenticate(
  header: string | undefined,
  users: TokenUser[],
): { ok: true; user: string | undefined } | { ok: false } {
  if (header === undefined) return { ok: true, user: undefined };
  const match = /^Basic\s+(.+)$/i.exec(header);
  if (!match) return { ok: false };
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  const found = users.find((u) => u.user === user && u.password === password);
  return found ? { ok: true, user } : { ok: false };
}

const defaultGrant: GrantPolicy = (user, _repository, actions) => (user ? actions : []);

/** Starts the token server on a free loopback port. */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const key = await createSigningKey(options.dir, 'token-signer');
  const issuer = options.issuer ?? 'kiln-test-issuer';
  const users = options.users ?? [];
  const grant = options.grant ?? defaultGrant;
  const requests: TokenServer['requests'] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const auth = authenticate(req.headers.authorization, users);
    if (!auth.ok) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'invalid credentials' }));
      return;
    }
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '));
    requests.push({ user: auth.user, scopes });
    const access: TokenAccess[] = [];
    for (const scope of scopes) {
      const parsed = parseScope(scope);
      if (!parsed) continue;
      const granted = grant(auth.user, parsed.name, parsed.actions);
      if (granted.length > 0)
        access.push({ type: 'repository', name: parsed.name, actions: granted });
    }
    const token = signToken(key, {
      issuer,
      audience: url.searchParams.get('service') ?? '',
      subject: auth.user ?? '',
      access,
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: options.service,
    issuer,
    key,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
