import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MESSAGE_BUCKET_MS, bucketOf, firstIdOfBucket } from './bucket';

const id = (ms: number, worker = 0, seq = 0): bigint => (BigInt(ms) << 22n) | (BigInt(worker) << 12n) | BigInt(seq);

describe('bucketOf', () => {
  it('is 0 at the epoch and changes exactly at each bucket boundary', () => {
    assert.equal(bucketOf(0n), 0);
    assert.equal(bucketOf(id(MESSAGE_BUCKET_MS - 1, 1023, 4095)), 0);
    assert.equal(bucketOf(id(MESSAGE_BUCKET_MS)), 1);
    assert.equal(bucketOf(id(5 * MESSAGE_BUCKET_MS + 7, 3, 9)), 5);
  });

  it('ignores worker and sequence bits and is monotonic in the id', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        assert.ok(bucketOf(lo) <= bucketOf(hi));
        assert.equal(bucketOf(a), bucketOf((a >> 22n) << 22n));
      }),
    );
  });

  it('accepts the whole uint64 range and rejects values outside it', () => {
    assert.equal(bucketOf((1n << 64n) - 1n), Math.floor((2 ** 42 - 1) / MESSAGE_BUCKET_MS));
    assert.throws(() => bucketOf(-1n), RangeError);
    assert.throws(() => bucketOf(1n << 64n), RangeError);
  });

  it('firstIdOfBucket is the smallest id of its bucket', () => {
    for (const b of [0, 1, 42, 1000]) {
      const first = firstIdOfBucket(b);
      assert.equal(bucketOf(first), b);
      if (first > 0n) assert.equal(bucketOf(first - 1n), b - 1);
    }
    assert.throws(() => firstIdOfBucket(-1), RangeError);
    assert.throws(() => firstIdOfBucket(1.5), RangeError);
  });
});
