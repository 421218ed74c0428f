/**
 * What an ADD source names, by BuildKit's rules: a git repository (`git://` and `ssh://` URLs,
 * scp-like `user@host:path`, and http(s) URLs whose path ends in `.git`), a file to download
 * (other http(s) URLs), or a path in the build context (everything else, including
 * `github.com/owner/repo`, which BuildKit deliberately reads as a local path).
 */

export type AddSource =
  | { kind: 'local'; path: string }
  | {
      kind: 'http';
      /** The URL to fetch, without its fragment. */
      url: string;
      /** The file's name in the destination: the URL path's last segment, or `__unnamed__`. */
      filename: string;
    }
  | {
      kind: 'git';
      /** What `git` is given to clone (the source without its `#fragment`). */
      remote: string;
      /** Branch, tag, full ref or commit from `#ref`; empty for the remote's HEAD. */
      ref: string;
      /** Directory inside the repository from `#ref:subdir`; empty for the root. */
      subdir: string;
      /** Plain git:// or http://: no transport security, as BuildKit warns. */
      unencrypted: boolean;
    };

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
const SCP_LIKE = /^[a-zA-Z0-9_-]+@[a-zA-Z0-9.-]+:/;
const GIT_SCHEMES = new Set(['git', 'ssh']);

/** Classifies one ADD source as written (after word expansion). */
export function parseAddSource(source: string): AddSource {
  if (source.startsWith('./') || source.startsWith('../') || source.startsWith('github.com/')) {
    return { kind: 'local', path: source };
  }
  const scheme = SCHEME.exec(source)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    return SCP_LIKE.test(source) ? gitSource(source, false) : { kind: 'local', path: source };
  }
  if (GIT_SCHEMES.has(scheme)) return gitSource(source, scheme === 'git');
  if (scheme !== 'http' && scheme !== 'https') return { kind: 'local', path: source };

  const url = parseUrl(source);
  if (url?.pathname.endsWith('.git')) return gitSource(source, scheme === 'http');
  return { kind: 'http', url: source.replace(/#.*$/s, ''), filename: httpFilename(url) };
}

function gitSource(source: string, unencrypted: boolean): AddSource {
  const hash = source.indexOf('#');
  const remote = hash < 0 ? source : source.slice(0, hash);
  const fragment = hash < 0 ? '' : source.slice(hash + 1);
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
  return { kind: 'git', remote, ref, subdir, unencrypted };
}

function parseUrl(source: string): URL | undefined {
  try {
    return new URL(source);
  } catch {
    return undefined;
  }
}

function httpFilename(url: URL | undefined): string {
  if (url === undefined) return '__unnamed__';
  let pathname: string;
  try {
    pathname = decodeURIComponent(url.pathname);
  } catch {
    pathname = url.pathname;
  }
  const base = pathname.replace(/\/+$/, '').split('/').at(-1) ?? '';
  return base === '' || base === '.' || base === '..' ? '__unnamed__' : base;
}

/** A URL without user info, for messages: credentials in a URL are never printed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}
