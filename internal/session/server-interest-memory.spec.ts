import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryServerInterest } from './server-interest-memory';

describe('MemoryServerInterest', () => {
  it('prunes the users whose every entry lapsed, oldest add first, and keeps the live ones', () => {
    const interest = new MemoryServerInterest();
    interest.add('s1', ['a', 'b'], 0, 100);
    interest.add('s2', ['c'], 50, 100);
    interest.add('s1', ['a'], 60, 100); // renewed: now the newest
    interest.prune(100);
    assert.equal(interest.size, 2, 'b lapsed at 100; c and the renewed a live on');
    assert.deepEqual(interest.live('b', 100), []);
    interest.prune(150);
    assert.equal(interest.size, 1);
    assert.deepEqual(interest.live('a', 150), ['s1']);
    interest.prune(160);
    assert.equal(interest.size, 0);
  });
});
