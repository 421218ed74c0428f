/**
 * Which proxy a request goes through, from the environment, by the rules of Go's
 * ProxyFromEnvironment, which kaniko and BuildKit use: HTTPS_PROXY for https URLs, HTTP_PROXY
 * for http ones (upper case first, then lower case; HTTP_PROXY is ignored when REQUEST_METHOD says
 * this is a CGI program), NO_PROXY a comma-separated list of hosts, domains, IPs and CIDR ranges
 * (each optionally with a port) or `*`, and never a proxy for `localhost` or a loopback address.
 * A proxy without a scheme is `http://`; kiln speaks to http proxies only.
 */
import { BlockList, isIP } from 'node:net';
import { NetworkError } from '../errors.js';

export type ProxyEnv = Readonly<Record<string, string | undefined>>;

/** The proxy for `url`, or undefined to connect directly. */
export function proxyFor(url: URL, env: ProxyEnv = process.env): URL | undefined {
  const https = url.protocol === 'https:';
  const value = https
    ? envAny(env, 'HTTPS_PROXY', 'https_proxy')
    : env.REQUEST_METHOD
      ? undefined
      : envAny(env, 'HTTP_PROXY', 'http_proxy');
  if (!value) return undefined;

  const host = hostOf(url);
  const port = url.port || (https ? '443' : '80');
  if (!useProxy(host, port, envAny(env, 'NO_PROXY', 'no_proxy') ?? '')) return undefined;
  return parseProxy(value);
}

function envAny(env: ProxyEnv, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value) return value;
  }
  return undefined;
}

/** The URL's host, lower case, without an IPv6 address's brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

function parseProxy(value: string): URL {
  let proxy: URL | undefined;
  try {
    proxy = new URL(value);
  } catch {
    proxy = undefined;
  }
  // `proxy:3128` parses as a URL with the scheme `proxy:`; like Go, such a value is a host. One
  // that names its scheme (`http://[::1`) and does not parse is just invalid: read after another
  // `http://`, it would name the host `http`.
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
  if (proxy === undefined && hasScheme) {
    throw new NetworkError('PROXY_INVALID', `invalid proxy address ${JSON.stringify(value)}`);
  }
  if (proxy === undefined || !/^(https?|socks5h?):$/.test(proxy.protocol)) {
    try {
      proxy = new URL(`http://${value}`);
    } catch {
      throw new NetworkError('PROXY_INVALID', `invalid proxy address ${JSON.stringify(value)}`);
    }
  }
  if (proxy.protocol !== 'http:') {
    throw new NetworkError(
      'PROXY_UNSUPPORTED',
      `proxy ${proxy.protocol}//${proxy.host}: only http:// proxies are supported`,
    );
  }
  return proxy;
}

function useProxy(host: string, port: string, noProxy: string): boolean {
  if (host === 'localhost') return false;
  const family = isIP(host);
  if (family !== 0 && isLoopback(host, family)) return false;

  for (let entry of noProxy.split(',')) {
    entry = entry.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return false;
    if (family !== 0 && inCidr(host, family, entry)) return false;
    const { host: entryHost, port: entryPort } = splitHostPort(entry);
    if (entryHost === '') continue;
    if (entryPort !== '' && entryPort !== port) continue;
    if (isIP(entryHost) !== 0) {
      if (family !== 0 && sameIp(host, entryHost)) return false;
      continue;
    }
    if (family !== 0) continue;
    // `foo.com` matches foo.com and its subdomains, `.foo.com` and `*.foo.com` subdomains only.
    const domain = entryHost.startsWith('*.') ? entryHost.slice(1) : entryHost;
    if (
      domain.startsWith('.')
        ? host.endsWith(domain)
        : host === domain || host.endsWith(`.${domain}`)
    ) {
      return false;
    }
  }
  return true;
}

function isLoopback(ip: string, family: number): boolean {
  if (family === 4) return ip.startsWith('127.');
  const list = new BlockList();
  list.addAddress('::1', 'ipv6');
  list.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
  return list.check(ip, 'ipv6');
}

function inCidr(ip: string, family: number, entry: string): boolean {
  const slash = entry.indexOf('/');
  if (slash < 0) return false;
  const base = entry.slice(0, slash);
  const bits = Number(entry.slice(slash + 1));
  const baseFamily = isIP(base);
  if (baseFamily !== family || !Number.isInteger(bits)) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  try {
    list.addSubnet(base, bits, type);
  } catch {
    return false;
  }
  return list.check(ip, type);
}

function sameIp(a: string, b: string): boolean {
  const list = new BlockList();
  const type = isIP(b) === 4 ? 'ipv4' : 'ipv6';
  list.addAddress(b, type);
  return isIP(a) === isIP(b) && list.check(a, type);
}

/** `host:port`, `[v6]:port`, or a bare host (an IPv6 address without brackets has no port). */
function splitHostPort(entry: string): { host: string; port: string } {
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1] ?? '', port: bracketed[2] ?? '' };
  const colon = entry.lastIndexOf(':');
  if (colon < 0 || entry.indexOf(':') !== colon) return { host: entry, port: '' };
  return { host: entry.slice(0, colon), port: entry.slice(colon + 1) };
}
