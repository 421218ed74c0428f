import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddSource, redactUrl } from './add-source.js';

describe('parseAddSource()', () => {
  it('reads a plain path, a relative path and github.com/… as context paths', () => {
    for (const source of ['app.tar.gz', './x', '../y', 'github.com/moby/buildkit', 'dir/*.txt']) {
      assert.deepEqual(parseAddSource(source), { kind: 'local', path: source }, source);
    }
  });

  it('names a download after the last segment of the URL path', () => {
    assert.deepEqual(parseAddSource('https://example.com/dl/tool-1.2.tar.gz?x=1#frag'), {
      kind: 'http',
      url: 'https://example.com/dl/tool-1.2.tar.gz?x=1',
      filename: 'tool-1.2.tar.gz',
    });
    assert.equal(
      (parseAddSource('http://example.com/a%20b') as { filename: string }).filename,
      'a b',
    );
  });

  it('calls a download without a path segment __unnamed__', () => {
    for (const url of ['https://example.com', 'https://example.com/', 'http://h/..']) {
      assert.equal((parseAddSource(url) as { filename: string }).filename, '__unnamed__', url);
    }
  });

  it('reads http(s) URLs ending in .git, git://, ssh:// and user@host: as git sources', () => {
    assert.deepEqual(parseAddSource('https://example.com/org/repo.git#v1.2:docs/api'), {
      kind: 'git',
      remote: 'https://example.com/org/repo.git',
      ref: 'v1.2',
      subdir: 'docs/api',
      unencrypted: false,
    });
    assert.deepEqual(parseAddSource('git@github.com:org/repo.git#main'), {
      kind: 'git',
      remote: 'git@github.com:org/repo.git',
      ref: 'main',
      subdir: '',
      unencrypted: false,
    });
    const plain = parseAddSource('git://127.0.0.1:9418/repo');
    assert.equal(plain.kind, 'git');
    assert.equal((plain as { unencrypted: boolean }).unencrypted, true);
    assert.equal(parseAddSource('ssh://git@host/repo').kind, 'git');
    assert.equal(parseAddSource('http://host/repo.git').kind, 'git');
  });

  it('keeps an http URL whose path does not end in .git a download', () => {
    assert.equal(parseAddSource('https://host/repo.git/file').kind, 'http');
  });

  it('reads other schemes as context paths, never as something to fetch', () => {
    assert.equal(parseAddSource('file:///etc/passwd').kind, 'local');
    assert.equal(parseAddSource('ext::sh -c id').kind, 'local');
  });
});

describe('redactUrl()', () => {
  it('drops user and password from a URL and leaves others alone', () => {
    assert.equal(redactUrl('https://user:s3cret@host/repo.git'), 'https://host/repo.git');
    assert.equal(redactUrl('https://host/f'), 'https://host/f');
    assert.equal(redactUrl('git@host:repo.git'), 'git@host:repo.git');
  });
});
