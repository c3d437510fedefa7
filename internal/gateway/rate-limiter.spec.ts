import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedTokenBuckets, TokenBucket } from './rate-limiter';

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate', () => {
    let now = 0;
    const b = new TokenBucket(10, 3, () => now);
    assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()], [true, true, true, false]);
    now = 100;
    assert.equal(b.tryTake(), true);
    assert.equal(b.tryTake(), false);
    now = 10_000;
    assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()], [true, true, true, false], 'refill is capped at the burst');
  });

  it('does not go into debt when the clock steps backwards', () => {
    let now = 100_000;
    const b = new TokenBucket(10, 3, () => now);
    now = 90_000; // stepped 10 s back
    assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()], [true, true, true, false]);
    now = 90_100;
    assert.equal(b.tryTake(), true, 'refills from the new reading at once');
  });
});

describe('KeyedTokenBuckets', () => {
  it('keeps one bucket per key and forgets refilled ones', () => {
    let now = 0;
    const b = new KeyedTokenBuckets(2, 2, () => now);
    assert.deepEqual([b.tryTake('a'), b.tryTake('a'), b.tryTake('a')], [true, true, false]);
    assert.equal(b.tryTake('b'), true, 'another key has its own bucket');
    now = 500;
    b.prune();
    assert.equal(b.size, 2, 'not yet full again');
    now = 1_500;
    b.prune();
    assert.equal(b.size, 0);
    assert.deepEqual([b.tryTake('a'), b.tryTake('a'), b.tryTake('a')], [true, true, false]);
  });
});
