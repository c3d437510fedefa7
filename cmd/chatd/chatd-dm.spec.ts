import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { decodeSnowflake } from '../../internal/snowflake/snowflake';
import { TestChatd } from './testing/chatd-harness';

describe('chatd 1:1 chat over WebSocket', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start()));
  after(async () => chatd.stop());

  it('acks with a Snowflake id and delivers to every device of both users except the sending one', async () => {
    const a1 = await chatd.connect('alice', { deviceId: 'phone' });
    const a2 = await chatd.connect('alice', { deviceId: 'laptop', format: 'json' });
    const b = await chatd.connect('bob', { format: 'json' });
    const conv = dmConversationId('alice', 'bob');
    const before = Date.now();
    const ack = await a1.send(conv, 'hi bob', 'c-1');
    assert.equal(ack.clientMsgId, 'c-1');
    assert.equal(ack.conversationId, conv);
    const { timestampMs } = decodeSnowflake(ack.messageId);
    assert.ok(timestampMs >= before - 5 && timestampMs <= Date.now() + 5, 'id carries the send time');
    assert.equal(ack.createdAt?.getTime(), timestampMs);
    assert.deepEqual([ack.seq, ack.epoch], ['1', ack.messageId], "the conversation's first message, numbered by the store");

    for (const c of [b, a2]) {
      const m = await c.waitForMessage((m) => m.messageId === ack.messageId);
      assert.deepEqual({ ...m, createdAt: m.createdAt?.getTime() }, { messageId: ack.messageId, conversationId: conv, senderId: 'alice', clientMsgId: 'c-1', text: 'hi bob', createdAt: timestampMs, seq: '1', epoch: ack.messageId });
    }
    const reply = await b.send(conv, 'hi alice');
    assert.deepEqual([reply.seq, reply.epoch], ['2', ack.messageId], 'the next number, whoever sends it');
    await a1.waitForMessage((m) => m.messageId === reply.messageId);
    assert.equal(a1.pushedFrames().filter((f) => f.frame?.$case === 'message' && f.frame.value.messageId === ack.messageId).length, 0, 'the sending device gets only its ack');
    await Promise.all([a1.close(), a2.close(), b.close()]);
  });

  it('answers a retried send with the original id and delivers it once', async () => {
    const a = await chatd.connect('carol');
    const b = await chatd.connect('dave');
    const conv = dmConversationId('carol', 'dave');
    const first = await a.send(conv, 'once', 'retry-key');
    const second = await a.send(conv, 'once (retry)', 'retry-key');
    assert.equal(second.messageId, first.messageId);
    const marker = await a.send(conv, 'after');
    await b.waitForMessage((m) => m.messageId === marker.messageId);
    const delivered = b.pushedFrames().filter((f) => f.frame?.$case === 'message').map((f) => (f.frame!.value as { text: string }).text);
    assert.deepEqual(delivered, ['once', 'after']);
    const page = await b.history({ conversationId: conv });
    assert.deepEqual(page.messages.map((m) => m.text), ['after', 'once']);
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses a DM the sender is not part of, storing and delivering nothing', async () => {
    const mallory = await chatd.connect('mallory');
    const b = await chatd.connect('erin');
    const conv = dmConversationId('erin', 'frank');
    await assert.rejects(mallory.send(conv, 'spoof'), { code: 'ERROR_CODE_PERMISSION_DENIED' });
    const page = await b.history({ conversationId: conv });
    assert.deepEqual(page.messages, []);
    await assert.rejects(mallory.history({ conversationId: conv }), { code: 'ERROR_CODE_PERMISSION_DENIED' });
    assert.equal(b.pushedFrames().filter((f) => f.frame?.$case === 'message').length, 0);
    await Promise.all([mallory.close(), b.close()]);
  });

  it('keeps a sender\'s messages in the order it sent them', async () => {
    const a = await chatd.connect('gina', { autoHeartbeat: false });
    const b = await chatd.connect('hank');
    const conv = dmConversationId('gina', 'hank');
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) => a.send(conv, `m${i}`)));
    const ids = acks.map((x) => BigInt(x.messageId));
    assert.deepEqual([...ids].sort((x, y) => (x < y ? -1 : 1)), ids, 'ids increase in send order');
    await b.waitForMessage((m) => m.text === 'm29');
    const texts = b.pushedFrames().filter((f) => f.frame?.$case === 'message').map((f) => (f.frame!.value as { text: string }).text);
    assert.deepEqual(texts, Array.from({ length: 30 }, (_, i) => `m${i}`));
    await Promise.all([a.close(), b.close()]);
  });
});
