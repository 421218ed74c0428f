import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OrderedHashFeed } from './hash-feed.js';

/** A piece that resolves after `ms`, so later pieces can finish first. */
const later = async (text: string, ms: number): Promise<string> => {
  await sleep(ms);
  return text;
};

describe('OrderedHashFeed', () => {
  it('hashes pieces in the order they were added, whenever they resolve', async () => {
    const pieces = Array.from({ length: 40 }, (_, i) => `piece ${i};`.repeat(i * 300));
    const want = createHash('sha256').update(pieces.join('')).digest('hex');

    const hash = createHash('sha256');
    const feed = new OrderedHashFeed(hash, 3);
    for (const [i, text] of pieces.entries()) {
      if (i % 3 === 0) await feed.addLater(later(text, (40 - i) % 7));
      else feed.add(text);
    }
    await feed.finish();
    assert.equal(hash.digest('hex'), want);
  });

  it('rejects with the error of a piece that failed', async () => {
    const feed = new OrderedHashFeed(createHash('sha256'), 1);
    feed.add('a');
    await feed.addLater(Promise.reject(new Error('unreadable')));
    await assert.rejects(feed.addLater(later('b', 1)), /unreadable/);
  });
});
