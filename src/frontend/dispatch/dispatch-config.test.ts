import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goDuration, goRune } from './dispatch-config.js';

describe('history formatting as Go prints it', () => {
  it('writes durations as time.Duration.String does', () => {
    assert.equal(goDuration(0), '0s');
    assert.equal(goDuration(5_000_000_000), '5s');
    assert.equal(goDuration(1_500_000_000), '1.5s');
    assert.equal(goDuration(90_000_000_000), '1m30s');
    assert.equal(goDuration(3_600_000_000_000), '1h0m0s');
    assert.equal(goDuration(250_000_000), '250ms');
  });

  it('writes an int under %q as a quoted rune', () => {
    assert.equal(goRune(0), "'\\x00'");
    assert.equal(goRune(4), "'\\x04'");
    assert.equal(goRune(10), "'\\n'");
    assert.equal(goRune(65), "'A'");
  });
});
