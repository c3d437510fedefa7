import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChatClientError } from '../../internal/client/chat-client-error';
import { conversationTarget } from './conversation-target';

describe('conversationTarget', () => {
  it('takes ids with a colon as conversation ids and user ids as DMs, sorted', () => {
    assert.equal(conversationTarget('g:42', 'bob'), 'g:42');
    assert.equal(conversationTarget('alice', 'bob'), 'dm:alice:bob');
    assert.equal(conversationTarget('carol', 'bob'), 'dm:bob:carol');
    assert.throws(() => conversationTarget('bob', 'bob'), ChatClientError);
  });
});
