import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedLists } from './keyed-lists';

describe('KeyedLists', () => {
  it('keeps each value once per key, in the order added', () => {
    const lists = new KeyedLists<string, number>();
    lists.add('a', 1);
    lists.add('a', 2);
    lists.add('a', 1);
    lists.add('b', 3);
    assert.deepEqual(lists.get('a'), [1, 2]);
    assert.deepEqual(lists.get('b'), [3]);
    assert.deepEqual(lists.get('c'), []);
    assert.deepEqual([...lists.values()], [[1, 2], [3]]);
  });

  it('drops a key with its last value and says how many are left', () => {
    const lists = new KeyedLists<string, number>();
    lists.add('a', 1);
    lists.add('a', 2);
    assert.equal(lists.remove('a', 1), 1);
    assert.equal(lists.remove('a', 9), 1, 'a value the key does not have');
    assert.equal(lists.remove('a', 2), 0);
    assert.deepEqual([...lists.values()], []);
    assert.equal(lists.remove('zz', 1), 0, 'a key it does not have');
  });

  it('leaves a loop over a list undisturbed when the loop removes or adds values', () => {
    const lists = new KeyedLists<string, number>();
    for (const v of [1, 2, 3]) lists.add('a', v);
    const seen: number[] = [];
    for (const v of lists.get('a')) {
      seen.push(v);
      lists.remove('a', v);
      lists.add('a', v + 10);
    }
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(lists.get('a'), [11, 12, 13]);
  });
});
