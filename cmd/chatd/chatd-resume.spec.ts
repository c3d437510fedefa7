import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GapReason } from '../../gen/chat/v1/gateway';
import type { ChatClient } from '../../internal/client/chat-client';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
import { TestChatd } from './testing/chatd-harness';

const NO_RATE_LIMIT = { sendRatePerSec: '10000', sendBurst: '10000' } as const;

/** Connects and collects the replay that answers its hello, up to resume_complete. */
async function resume(chatd: TestChatd, userId: string, deviceId: string, lastSeen?: Record<string, string>, resumeAfter?: Record<string, string>) {
  const client = await chatd.connect(userId, { deviceId, lastSeen, resumeAfter });
  const done = await client.waitFor((f) => (f.frame?.$case === 'resumeComplete' ? f.frame.value : undefined));
  const frames = client.pushedFrames();
  const replayed = frames.flatMap((f) => (f.frame?.$case === 'historyPage' ? f.frame.value.messages.map((m) => m.messageId) : []));
  const gaps = frames.flatMap((f) => (f.frame?.$case === 'gap' ? [f.frame.value] : []));
  return { client, done, replayed, gaps };
}

async function sendAll(c: ChatClient, conversationId: string, texts: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const t of texts) ids.push((await c.send(conversationId, t)).messageId);
  return ids;
}

/**
 * Resume over ids that are only roughly ordered: in the mesh a device can see id 101 (relayed at
 * once) while id 100 (another server's clock, or the slower Kafka path) has not reached it yet. A
 * cursor of "ids after the newest I saw" would skip 100 for good; the server's overlap window
 * (CHAT_RESUME_OVERLAP_MS, default 30 s) replays it.
 */
describe('chatd resume with the overlap window', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ ...NO_RATE_LIMIT, resumeMaxConversations: '2' })));
  after(async () => chatd.stop());

  it('replays a late message older than the newest the device saw (last_seen)', async () => {
    const conv = dmConversationId('late-r', 'late-s');
    const sender = await chatd.connect('late-s');
    const [before, late, seen, after] = await sendAll(sender, conv, ['before', 'late', 'seen', 'after']);
    // The device saw `seen` but not `late`, whose id is smaller: the late-message case.
    const { client, done, replayed, gaps } = await resume(chatd, 'late-r', 'phone', { [conv]: seen });
    assert.ok(replayed.includes(late), 'the late message is replayed');
    assert.ok(replayed.includes(after), 'and what came after');
    assert.deepEqual(replayed, [before, late, seen, after], 'the window repeats recent messages, oldest first; the client drops them by id');
    assert.deepEqual(gaps, []);
    assert.deepEqual(done, { conversations: 1, gaps: 0 });
    await Promise.all([client.close(), sender.close()]);
  });

  it('replays a late message older than the newest the device acknowledged (saved position)', async () => {
    const conv = dmConversationId('lack-r', 'lack-s');
    const sender = await chatd.connect('lack-s');
    const device = await chatd.connect('lack-r', { deviceId: 'tablet' });
    const [late, seen] = await sendAll(sender, conv, ['late', 'seen']);
    await waitUntil(() => device.pushedFrames().filter((f) => f.frame?.$case === 'message').length === 2, 5000, 'both delivered');
    // It acknowledges only the newer one, as a device that never got the older would.
    device.ack([seen]);
    await device.close();
    await waitUntil(async () => {
      const r = await resume(chatd, 'lack-r', 'tablet');
      await r.client.close();
      return r.replayed.includes(late) && r.replayed.includes(seen);
    }, 5000, 'the saved position (the acked id) to be stored and the late message replayed from before it');
    await sender.close();
  });

  it('names every conversation beyond CHAT_RESUME_MAX_CONVERSATIONS in a gap instead of replaying it', async () => {
    const sender = await chatd.connect('many-s');
    const convs = ['many-a', 'many-b', 'many-c'].map((u) => dmConversationId('many-r', u));
    const newest: Record<string, string> = {};
    for (const [i, u] of ['many-a', 'many-b', 'many-c'].entries()) {
      const c = await chatd.connect(u);
      [newest[convs[i]]] = await sendAll(c, convs[i], [`hi from ${u}`]);
      await c.close();
    }
    const { client, done, gaps } = await resume(chatd, 'many-r', 'phone', newest);
    assert.equal(gaps.length, 1);
    assert.equal(gaps[0].reason, GapReason.GAP_REASON_TOO_MANY_CONVERSATIONS);
    assert.ok(convs.includes(gaps[0].conversationId));
    assert.ok(BigInt(gaps[0].afterId) < BigInt(newest[gaps[0].conversationId]), 'page on from before the position (the window)');
    assert.deepEqual(done, { conversations: 3, gaps: 1 });
    await Promise.all([client.close(), sender.close()]);
  });

  it('ends even an empty replay with resume_complete', async () => {
    const { client, done, replayed } = await resume(chatd, 'fresh-user', 'phone');
    assert.deepEqual(done, { conversations: 0, gaps: 0 });
    assert.deepEqual(replayed, []);
    await client.close();
  });
});

/**
 * Resume by position: a device that names where it holds every message (`resume_after`, or an ack's
 * `held_through` saved on the server) gets exactly what comes after, with no window and no repeats.
 */
describe('chatd resume by position', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ ...NO_RATE_LIMIT })));
  after(async () => chatd.stop());

  it('replays exactly the messages after resume_after, none the device holds', async () => {
    const conv = dmConversationId('pos-r', 'pos-s');
    const sender = await chatd.connect('pos-s');
    const [, held, missed1, missed2] = await sendAll(sender, conv, ['one', 'two', 'three', 'four']);
    const { client, done, replayed } = await resume(chatd, 'pos-r', 'phone', undefined, { [conv]: held });
    assert.deepEqual(replayed, [missed1, missed2]);
    assert.deepEqual(done, { conversations: 1, gaps: 0 });
    await Promise.all([client.close(), sender.close()]);
  });

  it('resumes a device from the held_through it acknowledged on an earlier connection, exactly', async () => {
    const conv = dmConversationId('held-r', 'held-s');
    const sender = await chatd.connect('held-s');
    const device = await chatd.connect('held-r', { deviceId: 'tablet' });
    const [first, second] = await sendAll(sender, conv, ['first', 'second']);
    await waitUntil(() => device.pushedFrames().filter((f) => f.frame?.$case === 'message').length === 2, 5000, 'both delivered');
    device.ack([first, second], { [conv]: second });
    await device.close();
    const [third] = await sendAll(sender, conv, ['third']);
    await waitUntil(async () => {
      const r = await resume(chatd, 'held-r', 'tablet');
      await r.client.close();
      return r.replayed.length === 1 && r.replayed[0] === third;
    }, 5000, 'the saved exact position to be stored and only the third message replayed');
    await sender.close();
  });
});
