import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListedParticipants } from './listed-participants';

describe('ListedParticipants', () => {
  it('knows nothing of a conversation until rows are committed, then only new members are missing', () => {
    const listed = new ListedParticipants(10);
    assert.deepEqual(listed.missing('g:1', ['a', 'b']), ['a', 'b']);
    listed.committed('g:1', ['a', 'b']);
    assert.deepEqual(listed.missing('g:1', ['a', 'b']), []);
    assert.deepEqual(listed.missing('g:1', ['a', 'b', 'c']), ['c'], 'a member who joined later is written once');
  });

  it('drops the least recently used conversation beyond its bound', () => {
    const listed = new ListedParticipants(2);
    listed.committed('dm:a:b', ['a', 'b']);
    listed.committed('dm:a:c', ['a', 'c']);
    listed.committed('dm:a:b', ['a', 'b']); // used again: now the newest
    listed.committed('dm:b:c', ['b', 'c']);
    assert.deepEqual(listed.missing('dm:a:c', ['a', 'c']), ['a', 'c'], 'the oldest was dropped: its rows are written again, harmlessly');
    assert.deepEqual(listed.missing('dm:a:b', ['a', 'b']), []);
  });
});
