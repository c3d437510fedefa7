import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveredIds } from './delivered-ids';

describe('DeliveredIds', () => {
  it('forgets the oldest ids first, past its capacity', () => {
    const ids = new DeliveredIds(3);
    for (const id of ['1', '2', '3', '4', '5']) ids.remember(id, `c${id}`);
    assert.deepEqual(['1', '2', '3', '4', '5'].map((id) => ids.take(id)), [undefined, undefined, 'c3', 'c4', 'c5']);
  });

  it('keeps an id pushed twice (live and replayed) in its first place', () => {
    const ids = new DeliveredIds(3);
    assert.equal(ids.remember('1', 'c'), true);
    ids.remember('2', 'c');
    assert.equal(ids.remember('1', 'c'), false, 'a second push of a noted id is refused');
    ids.remember('3', 'c');
    ids.remember('4', 'c');
    assert.equal(ids.take('1'), undefined, 'evicted as the oldest');
    assert.deepEqual(['2', '3', '4'].map((id) => ids.take(id)), ['c', 'c', 'c']);
  });

  it('notes an id again once it was acked (taken)', () => {
    const ids = new DeliveredIds(3);
    ids.remember('1', 'c');
    ids.take('1');
    assert.equal(ids.remember('1', 'c'), true);
  });

  it('stays bounded over many rounds of its capacity', () => {
    const ids = new DeliveredIds(100);
    for (let i = 0; i < 10_000; i++) ids.remember(String(i), 'c');
    assert.equal(ids.take('9899'), undefined);
    assert.equal(ids.take('9900'), 'c');
    assert.equal(ids.take('9999'), 'c');
  });

  it('forgets an id once it is taken (acked)', () => {
    const ids = new DeliveredIds(3);
    ids.remember('1', 'c');
    assert.equal(ids.take('1'), 'c');
    assert.equal(ids.take('1'), undefined);
  });
});
