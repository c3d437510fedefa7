import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeviceCursor } from '../../gen/chat/v1/history';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { ChatError } from '../errors/chat-error';
import { serveHistory, type ServedHistory } from '../receipts/testing/served-history';

const id = (n: number) => (BigInt(n) << 22n).toString();
const cursor = (conversationId: string, n: number, exact: boolean): DeviceCursor => ({ conversationId, messageId: id(n), exact });
const invalid = (err: unknown) => err instanceof ChatError && err.codeName === 'INVALID_ARGUMENT';

/** historyRpc served over gRPC on the embedded (SQLite) store, as `chatd` serves it. */
describe('HistoryService handlers', () => {
  let served: ServedHistory;
  before(async () => {
    served = await serveHistory();
  });
  after(async () => served.close());

  it('maps DeviceCursor.exact both ways, single and batch', async () => {
    await served.rpc.call('saveDeviceCursors', { userId: 'ann', deviceId: 'phone', cursors: [cursor('g:1', 5, true), cursor('g:2', 7, false)] });
    await served.rpc.call('saveDeviceCursorsBatch', { devices: [{ userId: 'bob', deviceId: 'phone', cursors: [cursor('g:1', 9, true)] }] });
    assert.deepEqual(await served.messages.loadDeviceCursors('ann', 'phone'), new Map([['g:1', { messageId: BigInt(id(5)), exact: true }], ['g:2', { messageId: BigInt(id(7)), exact: false }]]));
    assert.deepEqual((await served.rpc.call('getDeviceCursors', { userId: 'ann', deviceId: 'phone' })).cursors, [cursor('g:1', 5, true), cursor('g:2', 7, false)]);
    const batch = await served.rpc.call('getDeviceCursorsBatch', { devices: [{ userId: 'bob', deviceId: 'phone' }, { userId: 'ann', deviceId: 'phone' }, { userId: 'cy', deviceId: 'phone' }] });
    assert.deepEqual(batch.devices.map((d) => d.cursors), [[cursor('g:1', 9, true)], [cursor('g:1', 5, true), cursor('g:2', 7, false)], []]);
  });

  it('keeps, of a conversation named twice in one request, what laterCursor keeps', async () => {
    await served.rpc.call('saveDeviceCursors', {
      userId: 'dee',
      deviceId: 'phone',
      cursors: [cursor('g:1', 4, true), cursor('g:1', 4, false), cursor('g:2', 4, false), cursor('g:2', 4, true), cursor('g:3', 4, true), cursor('g:3', 5, false)],
    });
    await served.rpc.call('saveDeviceCursorsBatch', { devices: [{ userId: 'dee', deviceId: 'laptop', cursors: [cursor('g:1', 6, false), cursor('g:1', 6, true), cursor('g:1', 5, true)] }] });
    assert.deepEqual((await served.rpc.call('getDeviceCursors', { userId: 'dee', deviceId: 'phone' })).cursors, [cursor('g:1', 4, true), cursor('g:2', 4, true), cursor('g:3', 5, false)]);
    assert.deepEqual((await served.rpc.call('getDeviceCursors', { userId: 'dee', deviceId: 'laptop' })).cursors, [cursor('g:1', 6, true)]);
  });

  it('appends through a store that numbers: ids behind the conversation and unstorable positions are INVALID_ARGUMENT', async () => {
    const message = (n: number, extra: Partial<ChatMessage> = {}): ChatMessage => ({ messageId: id(n), conversationId: 'g:9', senderId: 'ann', clientMsgId: `k${n}`, text: 't', createdAt: undefined, seq: '0', epoch: '0', ...extra });
    assert.deepEqual(await served.rpc.call('appendMessage', { message: message(20), participantIds: ['ann'] }), { created: true });
    assert.deepEqual((await served.messages.listMessages({ conversationId: 'g:9', limit: 5 })).messages.map((m) => [m.seq, m.epoch]), [['1', id(20)]]);
    assert.deepEqual(await served.rpc.call('appendMessage', { message: message(20, { clientMsgId: 'other' }), participantIds: ['ann'] }), { created: false });
    await assert.rejects(served.rpc.call('appendMessage', { message: message(19), participantIds: ['ann'] }), invalid);
    await assert.rejects(served.rpc.call('appendMessage', { message: message(21, { seq: (1n << 63n).toString() }), participantIds: ['ann'] }), invalid);
    assert.equal((await served.messages.listMessages({ conversationId: 'g:9', limit: 5 })).messages.length, 1);
  });
});
