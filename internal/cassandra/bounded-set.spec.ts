import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedSet } from './bounded-set';

describe('BoundedSet', () => {
  it('forgets the least recently added entries beyond its capacity', () => {
    const set = new BoundedSet(2);
    set.add('a');
    set.add('b');
    set.add('a'); // refreshed: b is now the oldest
    set.add('c');
    assert.deepEqual(['a', 'b', 'c'].map((k) => set.has(k)), [true, false, true]);
    assert.equal(set.size, 2);
  });
  it('remembers nothing with capacity 0 and rejects a bad capacity', () => {
    const none = new BoundedSet(0);
    none.add('a');
    assert.equal(none.has('a'), false);
    assert.throws(() => new BoundedSet(-1), RangeError);
  });
});
