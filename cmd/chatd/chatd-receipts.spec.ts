import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../gen/chat/v1/errors';
import type { ConnectResponse } from '../../gen/chat/v1/gateway';
import { ReceiptKind, type Receipt } from '../../gen/chat/v1/message';
import type { ChatClient } from '../../internal/client/chat-client';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
import { TestChatd } from './testing/chatd-harness';

const frames = (c: ChatClient, kind: string): ConnectResponse[] => c.pushedFrames().filter((f) => f.frame?.$case === kind);
const errorCode = (f: ConnectResponse) => (f.frame?.$case === 'error' ? f.frame.value.code : undefined);
const receiptOf = (kind: ReceiptKind, userId: string, upTo: string) => (f: ConnectResponse): Receipt | undefined =>
  f.frame?.$case === 'receipt' && f.frame.value.kind === kind && f.frame.value.userId === userId && f.frame.value.upToMessageId === upTo ? f.frame.value : undefined;

describe('chatd typing indicators and receipts', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ typingRatePerSec: '2', typingMaxGroupSize: '3' })));
  after(async () => chatd.stop());

  it('forwards typing to the other participant only, refuses outsiders and rate-limits', async () => {
    const alice = await chatd.connect('ty-alice');
    const alice2 = await chatd.connect('ty-alice', { deviceId: 'tablet' });
    const bob = await chatd.connect('ty-bob', { format: 'json' });
    const eve = await chatd.connect('ty-eve');
    const conv = dmConversationId('ty-alice', 'ty-bob');
    alice.typing(conv);
    const seen = await bob.waitFor((f) => (f.frame?.$case === 'typing' ? f.frame.value : undefined));
    assert.deepEqual(seen, { conversationId: conv, userId: 'ty-alice' });

    eve.typing(conv);
    assert.equal(await eve.waitFor(errorCode), ErrorCode.ERROR_CODE_PERMISSION_DENIED);
    eve.typing('nonsense');
    await waitUntil(() => frames(eve, 'error').length === 2, 5000, 'the second error');
    assert.deepEqual(frames(eve, 'error').map(errorCode), [ErrorCode.ERROR_CODE_PERMISSION_DENIED, ErrorCode.ERROR_CODE_INVALID_ARGUMENT]);

    // Burst is twice the rate (4): a fifth frame at once is refused.
    for (let i = 0; i < 5; i++) alice.typing(conv);
    assert.equal(await alice.waitFor(errorCode), ErrorCode.ERROR_CODE_RATE_LIMITED);
    await alice.heartbeat(); // every frame before it has been handled
    await bob.heartbeat();
    assert.equal(frames(alice2, 'typing').length, 0, 'the typer\'s own devices get nothing');
    assert.equal(frames(eve, 'typing').length, 0);
    await Promise.all([alice, alice2, bob, eve].map((c) => c.close()));
  });

  it('advances DELIVERED by ack and READ by read, pushes them as watermarks, and keeps unread counts', async () => {
    const alice = await chatd.connect('rc-alice');
    const bob = await chatd.connect('rc-bob', { deviceId: 'phone' });
    const bob2 = await chatd.connect('rc-bob', { deviceId: 'laptop', format: 'json' });
    const conv = dmConversationId('rc-alice', 'rc-bob');
    const acks = [];
    for (const text of ['one', 'two', 'three']) acks.push(await alice.send(conv, text));
    const last = acks[2].messageId;
    await bob.waitForMessage((m) => m.messageId === last);
    const bobApi = await chatd.api('rc-bob');
    const listed = async () => (await bobApi.listConversations()).conversations.find((c) => c.conversationId === conv)!;
    assert.equal((await listed()).unreadCount, 3);

    bob.ack(acks.map((a) => a.messageId));
    const delivered = await alice.waitFor(receiptOf(ReceiptKind.RECEIPT_KIND_DELIVERED, 'rc-bob', last));
    assert.equal(delivered.conversationId, conv);

    bob.markRead(conv, acks[1].messageId);
    await alice.waitFor(receiptOf(ReceiptKind.RECEIPT_KIND_READ, 'rc-bob', acks[1].messageId));
    await bob2.waitFor(receiptOf(ReceiptKind.RECEIPT_KIND_READ, 'rc-bob', acks[1].messageId));
    assert.equal((await listed()).unreadCount, 1, 'another device sees the unread count drop');
    assert.equal((await listed()).readUpToMessageId, acks[1].messageId);

    bob.markRead(conv, acks[0].messageId); // older: changes nothing, sends nothing
    bob.markRead(conv, last);
    await alice.waitFor(receiptOf(ReceiptKind.RECEIPT_KIND_READ, 'rc-bob', last));
    assert.equal(frames(alice, 'receipt').filter((f) => f.frame?.$case === 'receipt' && f.frame.value.kind === ReceiptKind.RECEIPT_KIND_READ).length, 2);
    assert.equal(frames(bob, 'receipt').filter((f) => f.frame?.$case === 'receipt' && f.frame.value.kind === ReceiptKind.RECEIPT_KIND_READ).length, 0, 'not echoed to the reading device');
    assert.equal((await listed()).unreadCount, 0);
    const aliceView = (await (await chatd.api('rc-alice')).listConversations()).conversations.find((c) => c.conversationId === conv)!;
    assert.deepEqual([aliceView.othersDeliveredUpToMessageId, aliceView.othersReadUpToMessageId, aliceView.unreadCount], [last, last, 0]);

    bob.markRead(conv, '0');
    assert.equal(await bob.waitFor(errorCode), ErrorCode.ERROR_CODE_INVALID_ARGUMENT);
    bob.markRead(conv, (BigInt(last) + 1n).toString());
    await waitUntil(() => frames(bob, 'error').length === 2, 5000, 'the NOT_FOUND error');
    assert.equal(errorCode(frames(bob, 'error')[1]), ErrorCode.ERROR_CODE_NOT_FOUND);
    const eve = await chatd.connect('rc-eve');
    eve.markRead(conv, last);
    assert.equal(await eve.waitFor(errorCode), ErrorCode.ERROR_CODE_PERMISSION_DENIED);
    await Promise.all([alice, bob, bob2, eve].map((c) => c.close()));
  });

  it('sends a group one read summary per advance, and no typing above the size limit', async () => {
    const api = await chatd.api('gr-ann');
    const small = await api.createGroup('three', ['gr-ben', 'gr-cat']);
    const big = await api.createGroup('four', ['gr-ben', 'gr-cat', 'gr-dan']);
    const ann = await chatd.connect('gr-ann');
    const ben = await chatd.connect('gr-ben');
    const cat = await chatd.connect('gr-cat');
    const ack = await ann.send(small.conversationId, 'read me');
    await ben.waitForMessage((m) => m.messageId === ack.messageId);

    ben.markRead(small.conversationId, ack.messageId);
    const summary = await ann.waitFor((f) => (f.frame?.$case === 'receiptSummary' ? f.frame.value : undefined));
    assert.deepEqual(summary, { conversationId: small.conversationId, kind: ReceiptKind.RECEIPT_KIND_READ, upToMessageId: ack.messageId, count: 1, memberCount: 2 });
    const annView = async () => (await api.listConversations()).conversations.find((c) => c.conversationId === small.conversationId)!;
    assert.equal((await annView()).othersReadUpToMessageId, '0', 'not everyone has read it yet');
    cat.markRead(small.conversationId, ack.messageId);
    await ann.waitFor((f) => (f.frame?.$case === 'receiptSummary' && f.frame.value.count === 2 ? f.frame.value : undefined));
    assert.equal((await annView()).othersReadUpToMessageId, ack.messageId, 'read by everyone');
    const benView = (await (await chatd.api('gr-ben')).listConversations()).conversations.find((c) => c.conversationId === small.conversationId)!;
    assert.deepEqual([benView.unreadCount, benView.readUpToMessageId], [0, ack.messageId]);
    assert.equal(frames(ann, 'receipt').length, 0, 'members get summaries, not one receipt per reader');

    cat.typing(small.conversationId);
    await ann.waitFor((f) => (f.frame?.$case === 'typing' && f.frame.value.conversationId === small.conversationId ? f.frame.value : undefined));
    cat.typing(big.conversationId);
    cat.typing(small.conversationId);
    await waitUntil(() => frames(ben, 'typing').length === 2, 5000, 'the second typing in the small group');
    assert.ok(frames(ann, 'typing').concat(frames(ben, 'typing')).every((f) => f.frame?.$case === 'typing' && f.frame.value.conversationId === small.conversationId));
    await Promise.all([ann, ben, cat].map((c) => c.close()));
  });

  it('keeps watermarks across a restart', async () => {
    const alice = await chatd.connect('rs-alice');
    const conv = dmConversationId('rs-alice', 'rs-bob');
    const first = await alice.send(conv, 'a');
    await alice.send(conv, 'b');
    const bob = await chatd.connect('rs-bob');
    bob.markRead(conv, first.messageId);
    await alice.waitFor(receiptOf(ReceiptKind.RECEIPT_KIND_READ, 'rs-bob', first.messageId));
    await Promise.all([alice.close(), bob.close()]);
    await chatd.restart();
    const view = (await (await chatd.api('rs-bob')).listConversations()).conversations.find((c) => c.conversationId === conv)!;
    assert.deepEqual([view.unreadCount, view.readUpToMessageId], [1, first.messageId]);
  });
});
