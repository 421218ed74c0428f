import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSignal } from './signal-names.js';

describe('isSignal()', () => {
  it('takes names with or without SIG in any case, and numbers other than 0', () => {
    for (const ok of ['SIGTERM', 'TERM', 'sigquit', 'kill', 'SIGRTMIN+3', 'RTMAX-1', '9', '37']) {
      assert.equal(isSignal(ok), true, ok);
    }
  });

  it('refuses what Docker refuses', () => {
    for (const bad of ['NOTASIG', 'SIG', '0', 'RTMIN+16', '-1', 'TERM ', '']) {
      assert.equal(isSignal(bad), false, bad);
    }
  });
});
