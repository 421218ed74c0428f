/**
 * The distribution auth flow. A registry's first 401 tells how it wants to be addressed: Basic
 * (send the stored user and password) or Bearer (fetch a token from the challenge's realm for the
 * service and the scopes the request needs, with the stored credentials or anonymously). Tokens are
 * cached per registry and scope set until shortly before they expire; concurrent requests for the
 * same scopes share one token fetch.
 */
import { RegistryError } from '../errors.js';
import type { ResponseBody } from '../net/response-body.js';
import type { AuthChallenge } from './auth-challenge.js';
import type { Credential, CredentialProvider } from './credentials.js';
import type { HttpResponse, RegistryTransport } from './transport.js';

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Seconds a token lives when the server does not say (the token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
/** Renew this long before expiry, so a token does not lapse between check and use. */
const EXPIRY_MARGIN_MS = 10_000;

/** `repository:NAME:ACTIONS`, the scope string of the token spec. */
export function repositoryScope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export class Authenticator {
  private readonly challenges = new Map<string, AuthChallenge>();
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly credentials: CredentialProvider,
    private readonly transport: RegistryTransport,
  ) {}

  /** Whether a challenge is known for this registry (so a 401 now means refusal). */
  knows(host: string): boolean {
    return this.challenges.has(host);
  }

  /** Records the challenge of a 401; prefers Bearer when both are offered. */
  learn(host: string, challenges: AuthChallenge[]): boolean {
    const chosen =
      challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ??
      challenges.find((c) => c.scheme === 'basic');
    if (!chosen) return false;
    this.challenges.set(host, chosen);
    return true;
  }

  /** Forgets cached tokens for these scopes, after the registry refused one. */
  invalidate(host: string, scopes: string[]): void {
    this.tokens.delete(this.tokenKey(host, scopes));
  }

  /** The Authorization header for a request needing `scopes`, or undefined for none. */
  async authorization(host: string, scopes: string[]): Promise<string | undefined> {
    const challenge = this.challenges.get(host);
    if (!challenge) return undefined;
    const credential = await this.credentials.get(host);
    if (credential?.kind === 'registry-token') return `Bearer ${credential.token}`;
    if (challenge.scheme === 'basic') {
      return credential?.kind === 'basic'
        ? basicHeader(credential.username, credential.password)
        : undefined;
    }

    const key = this.tokenKey(host, scopes);
    let cached = this.tokens.get(key);
    if (cached) {
      const value = await cached.catch(() => undefined);
      if (!value || value.expiresAt <= Date.now()) cached = undefined;
    }
    if (!cached) {
      cached = this.fetchToken(host, challenge, scopes, credential);
      this.tokens.set(key, cached);
      cached.catch(() => this.tokens.delete(key));
    }
    return `Bearer ${(await cached).token}`;
  }

  private tokenKey(host: string, scopes: string[]): string {
    return `${host}\n${[...scopes].sort().join(' ')}`;
  }

  private async fetchToken(
    host: string,
    challenge: AuthChallenge,
    scopes: string[],
    credential: Credential | undefined,
  ): Promise<CachedToken> {
    const realm = challenge.params.realm!;
    const service = challenge.params.service;
    const headers: Record<string, string> = {};
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    const url = new URL(realm);

    if (credential?.kind === 'identity-token') {
      // An identity token is an OAuth2 refresh token; the token spec exchanges it by POST.
      method = 'POST';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.token,
        client_id: 'kiln',
      });
      if (service) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      if (credential?.kind === 'basic') {
        headers.authorization = basicHeader(credential.username, credential.password);
      }
    }

    const realmName = `${url.origin}${url.pathname}`;
    let res: HttpResponse;
    try {
      res = await this.transport.request({ method, url, headers, body: body ?? null });
    } catch (err) {
      throw new RegistryError(
        'REGISTRY_UNREACHABLE',
        `cannot reach the token server ${realmName} of ${host}`,
        host,
        undefined,
        err,
      );
    }
    if (res.status === 401 || res.status === 403) {
      await res.body.dump();
      throw new RegistryError(
        'REGISTRY_UNAUTHORIZED',
        credential
          ? `the token server of ${host} rejected the stored credentials`
          : `the token server of ${host} requires credentials`,
        host,
        res.status,
      );
    }
    if (res.status !== 200) {
      await res.body.dump();
      throw new RegistryError(
        'REGISTRY_AUTH_FAILED',
        `the token server ${realmName} of ${host} answered HTTP ${res.status}`,
        host,
        res.status,
      );
    }
    return this.readToken(res.body, host);
  }

  private async readToken(body: ResponseBody, host: string): Promise<CachedToken> {
    let json: { token?: string; access_token?: string; expires_in?: number };
    try {
      json = (await body.json()) as typeof json;
    } catch (err) {
      throw new RegistryError(
        'REGISTRY_AUTH_FAILED',
        `the token server of ${host} did not answer JSON`,
        host,
        200,
        err,
      );
    }
    const token = json.token || json.access_token;
    if (!token) {
      throw new RegistryError(
        'REGISTRY_AUTH_FAILED',
        `the token server of ${host} answered without a token`,
        host,
        200,
      );
    }
    const seconds =
      typeof json.expires_in === 'number' && json.expires_in > 0
        ? json.expires_in
        : DEFAULT_TOKEN_SECONDS;
    return { token, expiresAt: Date.now() + seconds * 1000 - EXPIRY_MARGIN_MS };
  }
}
