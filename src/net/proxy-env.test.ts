import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ProxyEnv, proxyFor } from './proxy-env.js';

function via(url: string, env: ProxyEnv): string | undefined {
  return proxyFor(new URL(url), env)?.href;
}

const BOTH = { HTTP_PROXY: 'http://p-http:3128', HTTPS_PROXY: 'http://p-https:3128' };

describe('proxyFor', () => {
  it('picks HTTPS_PROXY for https URLs and HTTP_PROXY for http ones', () => {
    assert.equal(via('https://example.com/x', BOTH), 'http://p-https:3128/');
    assert.equal(via('http://example.com/x', BOTH), 'http://p-http:3128/');
    assert.equal(via('https://example.com/x', { HTTP_PROXY: 'http://p:1' }), undefined);
  });

  it('reads upper case before lower case, and lower case alone', () => {
    assert.equal(via('http://a.b/', { HTTP_PROXY: 'up:1', http_proxy: 'low:2' }), 'http://up:1/');
    assert.equal(via('http://a.b/', { http_proxy: 'low:2' }), 'http://low:2/');
    assert.equal(via('https://a.b/', { https_proxy: 'low:2' }), 'http://low:2/');
  });

  it('takes a proxy without a scheme as http://', () => {
    assert.equal(via('http://a.b/', { HTTP_PROXY: 'proxy.corp:3128' }), 'http://proxy.corp:3128/');
  });

  it('never proxies localhost or loopback addresses', () => {
    for (const url of ['http://localhost:5000/', 'http://127.0.0.1/', 'http://127.9.9.9:80/']) {
      assert.equal(via(url, BOTH), undefined, url);
    }
    assert.equal(via('https://[::1]:5000/', BOTH), undefined);
  });

  it('leaves out NO_PROXY hosts, domains, subdomains, ports, IPs and CIDR ranges', () => {
    const env = {
      ...BOTH,
      NO_PROXY: ' Internal.Corp , .only-sub.org, *.star.net, api.x:8443, 10.0.0.0/8, 192.168.1.5',
    };
    const direct = [
      'http://internal.corp/',
      'http://deep.internal.corp/',
      'http://a.only-sub.org/',
      'http://a.star.net/',
      'https://api.x:8443/',
      'http://10.2.3.4/',
      'http://192.168.1.5:8080/',
    ];
    for (const url of direct) assert.equal(via(url, env), undefined, url);
    const proxied = [
      'http://notinternal.corp/',
      'http://only-sub.org/',
      'http://star.net/',
      'https://api.x/',
      'http://11.2.3.4/',
      'http://192.168.1.6/',
    ];
    for (const url of proxied) assert.ok(via(url, env), url);
  });

  it('reads no_proxy in lower case, and * turns proxies off', () => {
    assert.equal(via('http://a.b/', { ...BOTH, no_proxy: 'a.b' }), undefined);
    assert.equal(via('https://anything/', { ...BOTH, NO_PROXY: '*' }), undefined);
  });

  it('ignores HTTP_PROXY in a CGI program, as Go does', () => {
    assert.equal(via('http://a.b/', { ...BOTH, REQUEST_METHOD: 'GET' }), undefined);
    assert.ok(via('https://a.b/', { ...BOTH, REQUEST_METHOD: 'GET' }));
  });

  it('refuses proxies it cannot speak to', () => {
    assert.throws(() => via('http://a.b/', { HTTP_PROXY: 'socks5://p:1080' }), /only http:/);
  });

  it('refuses a proxy URL that does not parse instead of reading it as another host', () => {
    for (const bad of ['http://[::1', 'http://p:99999']) {
      assert.throws(() => via('http://a.b/', { HTTP_PROXY: bad }), { code: 'PROXY_INVALID' }, bad);
    }
  });
});
