import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { KnownConversations, notingDelivery } from './known-conversations';

/** An index with the given DMs, counting what it is asked. */
function index(existing: string[]) {
  const asked: string[] = [];
  return {
    asked,
    async hasConversation(userId: string, conversationId: string) {
      asked.push(`${userId} ${conversationId}`);
      return Promise.resolve(existing.includes(conversationId));
    },
  };
}

describe('KnownConversations', () => {
  it('asks once for a DM that has a message and every time for one that has none', async () => {
    const idx = index(['dm:ann:bob']);
    const known = new KnownConversations(idx, { maxEntries: 10 });
    for (let i = 0; i < 3; i++) {
      assert.equal(await known.hasConversation('ann', 'dm:ann:bob'), true);
      assert.equal(await known.hasConversation('ann', 'dm:ann:cat'), false);
    }
    assert.deepEqual(idx.asked, ['ann dm:ann:bob', 'ann dm:ann:cat', 'ann dm:ann:cat', 'ann dm:ann:cat']);
  });

  it('learns a DM from a message for both of its users, without asking', async () => {
    const idx = index([]);
    const known = new KnownConversations(idx, { maxEntries: 10 });
    known.noteMessage({ conversationId: 'dm:ann:bob' });
    assert.equal(await known.hasConversation('ann', 'dm:ann:bob'), true);
    assert.equal(await known.hasConversation('bob', 'dm:ann:bob'), true);
    assert.deepEqual(idx.asked, []);
  });

  it('learns nothing from group messages, bad ids or a delivery without a message', async () => {
    const idx = index([]);
    const known = new KnownConversations(idx, { maxEntries: 10 });
    for (const m of [{ conversationId: 'g:123' }, { conversationId: 'dm:bob:ann' }, { conversationId: 'dm:' }, undefined]) known.noteMessage(m);
    assert.equal(known.size, 0);
    assert.equal(await known.hasConversation('ann', 'dm:ann:bob'), false);
  });

  it('keeps at most maxEntries pairs, the least recently used out first', async () => {
    const idx = index(['dm:a:b', 'dm:a:c']);
    const known = new KnownConversations(idx, { maxEntries: 3 });
    known.noteMessage({ conversationId: 'dm:a:b' }); // a·ab, b·ab
    await known.hasConversation('a', 'dm:a:b'); // a·ab used again: b·ab is now the oldest
    known.noteMessage({ conversationId: 'dm:a:c' }); // a·ac, c·ac: b·ab and then a·ab go
    assert.equal(known.size, 3);
    idx.asked.length = 0;
    for (const [u, c] of [['c', 'dm:a:c'], ['a', 'dm:a:c'], ['b', 'dm:a:b']] as const) await known.hasConversation(u, c);
    assert.deepEqual(idx.asked, ['b dm:a:b'], 'only the evicted pair is asked for');
  });

  it('remembers nothing with maxEntries 0', async () => {
    const idx = index(['dm:ann:bob']);
    const known = new KnownConversations(idx, { maxEntries: 0 });
    known.noteMessage({ conversationId: 'dm:ann:bob' });
    await known.hasConversation('ann', 'dm:ann:bob');
    await known.hasConversation('ann', 'dm:ann:bob');
    assert.equal(idx.asked.length, 2);
    assert.equal(known.size, 0);
  });

  it('notingDelivery notes each message it passes on, unchanged', () => {
    const known = new KnownConversations(index([]), { maxEntries: 10 });
    const passed: unknown[] = [];
    const delivery = notingDelivery(known, { deliver: (...args) => passed.push(args) });
    const message = { conversationId: 'dm:ann:bob', messageId: '1' } as ChatMessage;
    delivery.deliver(message, ['ann', 'bob'], 's1');
    assert.deepEqual(passed, [[message, ['ann', 'bob'], 's1']]);
    assert.equal(known.size, 2);
  });
});
