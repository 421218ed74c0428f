/**
 * RegistryError construction from HTTP answers and transport failures. Messages name the
 * reference and the registry's own error code (MANIFEST_UNKNOWN, DENIED, ...), never a header or a
 * URL query, so credentials and signed redirect URLs cannot leak into logs.
 */
import { RegistryError } from '../errors.js';
import { isNetworkError, isTlsError, networkErrorCode } from './retry.js';
import type { HttpResponse } from './transport.js';

/** The `errors` array of a distribution error body, read leniently. */
export async function readErrorBody(res: HttpResponse): Promise<string | undefined> {
  try {
    const text = await res.body.text(65_536);
    const json = JSON.parse(text) as {
      errors?: { code?: string; message?: string }[];
    };
    const parts = (json.errors ?? []).map((e) =>
      [e.code, e.message].filter((p) => p !== undefined && p !== '').join(': '),
    );
    return parts.length > 0 ? parts.join('; ') : undefined;
  } catch {
    return undefined;
  }
}

/** RegistryError's constructor takes no hint; the field is a plain own property. */
export function withHint(error: RegistryError, hint: string): RegistryError {
  (error as { hint: string | undefined }).hint = hint;
  return error;
}

function codeForStatus(status: number): string {
  if (status === 401) return 'REGISTRY_UNAUTHORIZED';
  if (status === 403) return 'REGISTRY_DENIED';
  if (status === 404) return 'REGISTRY_NOT_FOUND';
  if (status === 429) return 'REGISTRY_TOO_MANY_REQUESTS';
  if (status >= 500) return 'REGISTRY_SERVER_ERROR';
  return 'REGISTRY_REQUEST_FAILED';
}

function hintForStatus(status: number, host: string, url: string): string | undefined {
  if (status === 401) return `log in first (docker login ${host}) or check the stored credentials`;
  // A TLS listener answers a plain HTTP request with 400: loopback hosts get plain HTTP unless
  // something says otherwise.
  if (status === 400 && url.startsWith('http:')) {
    return `if ${host} speaks HTTPS, put its CA in /etc/docker/certs.d/${host}/ca.crt or list it as an insecure registry`;
  }
  if (status === 403) return 'the credentials are valid but lack access to this repository';
  return undefined;
}

/** An error for an unexpected HTTP status; consumes the body for its error details. */
export async function statusError(
  res: HttpResponse,
  what: string,
  reference: string,
  host: string,
): Promise<RegistryError> {
  const detail = await readErrorBody(res);
  const message =
    `${what} ${reference}: HTTP ${res.status}` + (detail === undefined ? '' : ` (${detail})`);
  const error = new RegistryError(codeForStatus(res.status), message, reference, res.status);
  const hint = hintForStatus(res.status, host, res.url);
  return hint ? withHint(error, hint) : error;
}

/** An error for a failure below HTTP: DNS, connection, TLS, timeout. */
export function transportError(
  err: unknown,
  what: string,
  reference: string,
  host: string,
): RegistryError {
  if (err instanceof RegistryError) return err;
  if (isTlsError(err)) {
    const e = new RegistryError(
      'REGISTRY_TLS',
      `${what} ${reference}: TLS with ${host} failed (${networkErrorCode(err)})`,
      reference,
      undefined,
      err,
    );
    return withHint(
      e,
      `add the registry's CA under /etc/docker/certs.d/${host}/ or mark it insecure`,
    );
  }
  const code = isNetworkError(err) ? networkErrorCode(err) : undefined;
  const reason = code ?? (err instanceof Error ? err.message : String(err));
  return new RegistryError(
    'REGISTRY_UNREACHABLE',
    `${what} ${reference}: cannot reach ${host} (${reason})`,
    reference,
    undefined,
    err,
  );
}

export function digestMismatch(reference: string, expected: string, actual: string): RegistryError {
  return new RegistryError(
    'REGISTRY_DIGEST_MISMATCH',
    `${reference}: content digest is ${actual}, expected ${expected}`,
    reference,
  );
}
