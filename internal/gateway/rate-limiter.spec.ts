import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from './rate-limiter';

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
});
