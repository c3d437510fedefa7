import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { ChatError } from '../errors/chat-error';
import { BATCH_MAX_PAGES, serveHistory, type ServedHistory } from '../receipts/testing/served-history';
import { HistoryClient } from './history-client';
import type { DeviceCursor } from './message-store';

const id = (n: number) => BigInt(n) << 22n;
const exact = (n: number): DeviceCursor => ({ messageId: id(n), exact: true });
const hint = (n: number): DeviceCursor => ({ messageId: id(n), exact: false });

describe('HistoryClient and the HistoryService: device cursors', () => {
  let served: ServedHistory;
  let client: HistoryClient;
  before(async () => {
    served = await serveHistory();
    client = new HistoryClient(served.rpc, { maxDevicesPerCall: 10 });
  });
  after(async () => served.close());

  it('carries exact both ways, through the single and the batch calls', async () => {
    await client.saveDeviceCursors('ann', 'phone', new Map([['g:1', exact(5)], ['g:2', hint(7)]]));
    await client.saveDeviceCursorsBatch([
      { userId: 'ann', deviceId: 'laptop', cursors: new Map([['g:1', hint(5)]]) },
      { userId: 'bob', deviceId: 'phone', cursors: new Map([['g:1', exact(9)], ['g:3', hint(2)]]) },
    ]);
    assert.deepEqual(await served.messages.loadDeviceCursors('ann', 'phone'), new Map([['g:1', exact(5)], ['g:2', hint(7)]]));
    assert.deepEqual(await served.messages.loadDeviceCursors('bob', 'phone'), new Map([['g:1', exact(9)], ['g:3', hint(2)]]));

    const count = () => served.calls.get('GetDeviceCursorsBatch') ?? 0;
    const calls = count();
    const loaded = await Promise.all([client.loadDeviceCursors('ann', 'phone'), client.loadDeviceCursors('ann', 'laptop'), client.loadDeviceCursors('bob', 'phone')]);
    assert.deepEqual(loaded, [new Map([['g:1', exact(5)], ['g:2', hint(7)]]), new Map([['g:1', hint(5)]]), new Map([['g:1', exact(9)], ['g:3', hint(2)]])]);
    assert.equal(count(), calls + 1, 'the loads of one turn share one call');
  });
});

describe('HistoryClient and the HistoryService: forward pages in batches', () => {
  let served: ServedHistory;
  let client: HistoryClient;
  const dms = Array.from({ length: BATCH_MAX_PAGES + 3 }, (_, i) => `dm:ann:u${String(i).padStart(2, '0')}`);
  const batches = () => served.calls.get('ListMessagesBatch') ?? 0;
  const singles = () => served.calls.get('ListMessages') ?? 0;
  before(async () => {
    served = await serveHistory();
    client = new HistoryClient(served.rpc, { maxPagesPerCall: BATCH_MAX_PAGES });
    for (const [c, conversationId] of dms.entries()) {
      for (let n = 1; n <= 3; n++) await served.messages.append(stored(conversationId, 10 * c + n, 'ann'), ['ann', conversationId.split(':')[2]]);
    }
  });
  after(async () => served.close());

  it('sends the forward reads of one turn in calls of at most the batch size, each answered with its own page', async () => {
    const [b, s] = [batches(), singles()];
    const pages = await Promise.all(dms.map((conversationId, c) => client.listMessages({ conversationId, afterId: id(10 * c + 1), limit: 10 })));
    assert.deepEqual(
      pages.map((p) => p.messages.map((m) => m.text)),
      dms.map((_, c) => [`m${10 * c + 2}`, `m${10 * c + 3}`]),
    );
    assert.ok(pages.every((p) => !p.hasMore));
    assert.equal(batches(), b + 2, `${dms.length} pages in two calls of at most ${BATCH_MAX_PAGES}`);
    assert.equal(singles(), s, 'no ListMessages');
  });

  it('fails a bad page alone, and reads pages from the newest end or backwards one call each', async () => {
    const [good, bad] = await Promise.allSettled([client.listMessages({ conversationId: dms[0], afterId: 1n, limit: 2 }), client.listMessages({ conversationId: 'nonsense', afterId: 1n, limit: 2 })]);
    assert.equal(good.status === 'fulfilled' && good.value.messages.length, 2);
    assert.ok(good.status === 'fulfilled' && good.value.hasMore);
    assert.ok(bad.status === 'rejected' && bad.reason instanceof ChatError && bad.reason.codeName === 'INVALID_ARGUMENT', String(bad.status === 'rejected' && bad.reason));
    const s = singles();
    const latest = await client.listMessages({ conversationId: dms[1], limit: 1 });
    assert.deepEqual(latest.messages.map((m) => m.text), ['m13']);
    assert.equal(singles(), s + 1);
  });

  it('the service refuses a call over CHAT_HISTORY_BATCH_MAX_PAGES', async () => {
    const pages = Array.from({ length: BATCH_MAX_PAGES + 1 }, () => ({ conversationId: dms[0], beforeId: '0', afterId: '0', limit: 1 }));
    await assert.rejects(served.rpc.call('listMessagesBatch', { pages }), /at most 8 pages per call/);
  });
});

function stored(conversationId: string, n: number, senderId: string): ChatMessage {
  return { messageId: id(n).toString(), conversationId, senderId, clientMsgId: `c-${n}`, text: `m${n}`, createdAt: new Date(1_700_000_000_000 + n), seq: '0', epoch: '0' };
}
