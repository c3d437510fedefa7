import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatMessage } from '../../gen/chat/v1/message';
import type { MessagePage, PageQuery } from '../history/message-store';
import { SharedForwardPages } from './shared-forward-pages';

const C = 'g:1';
const msg = (id: number): ChatMessage => ({ messageId: String(id), conversationId: C, senderId: 'a', clientMsgId: `c${id}`, text: 't', createdAt: new Date(), seq: String(id), epoch: '1' });

/** History of ids 1..n; each read waits for `gate` so queries can pile up behind it. */
function store(n: number) {
  const reads: PageQuery[] = [];
  let open!: () => void;
  const gate = { promise: new Promise<void>((r) => (open = r)), open: () => open() };
  const reader = {
    listConversations: () => Promise.resolve({ conversations: [], hasMore: false }),
    listMessages: async (q: PageQuery): Promise<MessagePage> => {
      reads.push(q);
      await gate.promise;
      const ids = Array.from({ length: n }, (_, i) => i + 1).filter((id) => BigInt(id) > (q.afterId ?? 0n));
      return { messages: ids.slice(0, q.limit).map(msg), hasMore: ids.length > q.limit };
    },
  };
  return { reads, gate, reader };
}

const ids = (p: MessagePage) => [p.messages.map((m) => Number(m.messageId)), p.hasMore];

describe('SharedForwardPages', () => {
  it('serves the forward pages queued behind a read of the conversation with one read, each its exact slice', async () => {
    const s = store(10);
    const pages = new SharedForwardPages(s.reader);
    const first = pages.listMessages({ conversationId: C, afterId: 8n, limit: 5 });
    const queued = [
      pages.listMessages({ conversationId: C, afterId: 3n, limit: 4 }),
      pages.listMessages({ conversationId: C, afterId: 5n, limit: 10 }),
      pages.listMessages({ conversationId: C, afterId: 9n, limit: 1 }),
    ];
    s.gate.open();
    assert.deepEqual(ids(await first), [[9, 10], false]);
    assert.deepEqual((await Promise.all(queued)).map(ids), [[[4, 5, 6, 7], true], [[6, 7, 8, 9, 10], false], [[10], false]]);
    assert.deepEqual(s.reads.map((q) => [q.afterId, q.limit]), [[8n, 5], [3n, 10]], 'the first alone, then the queue from its earliest position');
  });

  it('reads a slice on its own when the shared page ends before it is full and history has more', async () => {
    const s = store(30);
    const pages = new SharedForwardPages(s.reader);
    const first = pages.listMessages({ conversationId: C, afterId: 0n, limit: 1 });
    const far = pages.listMessages({ conversationId: C, afterId: 20n, limit: 5 });
    const near = pages.listMessages({ conversationId: C, afterId: 1n, limit: 5 });
    s.gate.open();
    await first;
    assert.deepEqual(ids(await near), [[2, 3, 4, 5, 6], true]);
    assert.deepEqual(ids(await far), [[21, 22, 23, 24, 25], true]);
    assert.deepEqual(s.reads.map((q) => q.afterId), [0n, 1n, 20n]);
  });

  it('passes backward pages through, and rejects every query of a failed shared read', async () => {
    const s = store(5);
    s.gate.open();
    const pages = new SharedForwardPages(s.reader);
    assert.deepEqual(ids(await pages.listMessages({ conversationId: C, beforeId: 3n, limit: 5 })), [[1, 2, 3, 4, 5], false]);
    const failing = new SharedForwardPages({ ...s.reader, listMessages: () => Promise.reject(new Error('history down')) });
    const all = [1n, 2n].map((afterId) => failing.listMessages({ conversationId: C, afterId, limit: 2 }));
    for (const p of all) await assert.rejects(p, /history down/);
  });
});
