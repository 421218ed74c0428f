import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onAbort } from './on-abort.js';

describe('onAbort()', () => {
  it('runs the handler once when the signal aborts later', () => {
    const abort = new AbortController();
    let calls = 0;
    onAbort(abort.signal, () => calls++);
    assert.equal(calls, 0);
    abort.abort();
    abort.abort();
    assert.equal(calls, 1);
  });

  it('runs the handler at once for a signal that has already aborted', () => {
    let calls = 0;
    onAbort(AbortSignal.abort(), () => calls++);
    assert.equal(calls, 1);
  });

  it('does not run the handler after the returned function removed it', () => {
    const abort = new AbortController();
    let calls = 0;
    const stop = onAbort(abort.signal, () => calls++);
    stop();
    abort.abort();
    assert.equal(calls, 0);
  });
});
