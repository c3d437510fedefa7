import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { HistoryPage } from '../../gen/chat/v1/gateway';
import type { ChatClient } from '../../internal/client/chat-client';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { TestChatd } from './testing/chatd-harness';

const LIMITS = { defaultPageSize: '10', maxPageSize: '20', resumeMaxMessages: '20', sendRatePerSec: '1000', sendBurst: '1000' } as const;

/** Sends `n` messages one after another; returns their ids in send (= id) order. */
async function sendMany(c: ChatClient, conversationId: string, n: number, prefix = 'm'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await c.send(conversationId, `${prefix}${i}`)).messageId);
  return ids;
}

const idsOf = (page: HistoryPage): string[] => page.messages.map((m) => m.messageId);

/** Pages the way a client scrolls: backwards from the newest, or forwards from `afterId`. */
async function pageAll(c: ChatClient, conversationId: string, dir: { afterId: string } | { beforeId?: string }, limit: number): Promise<{ pages: string[][]; hasMore: boolean[] }> {
  const pages: string[][] = [];
  const hasMore: boolean[] = [];
  let cursor = 'afterId' in dir ? dir.afterId : (dir.beforeId ?? '0');
  for (;;) {
    const page = await c.history('afterId' in dir ? { conversationId, afterId: cursor, limit } : { conversationId, beforeId: cursor, limit });
    assert.equal(page.conversationId, conversationId);
    pages.push(idsOf(page));
    hasMore.push(page.hasMore);
    if (!page.hasMore) return { pages, hasMore };
    assert.ok(page.messages.length > 0, 'has_more with an empty page');
    cursor = page.messages.at(-1)!.messageId;
    assert.ok(pages.length < 50, 'paging does not end');
  }
}

describe('chatd history', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start(LIMITS)));
  after(async () => chatd.stop());

  it('pages 25 messages backwards and forwards without gaps or repeats, has_more exact', async () => {
    const a = await chatd.connect('hpg-a');
    const conv = dmConversationId('hpg-a', 'hpg-b');
    const ids = await sendMany(a, conv, 25);
    const b = await chatd.connect('hpg-b');
    const newestFirst = [...ids].reverse();

    const back = await pageAll(b, conv, {}, 10);
    assert.deepEqual(back.pages.map((p) => p.length), [10, 10, 5]);
    assert.deepEqual(back.hasMore, [true, true, false]);
    assert.deepEqual(back.pages.flat(), newestFirst, 'newest first, each message once');

    const first = await b.history({ conversationId: conv, limit: 10 });
    assert.deepEqual(first.messages.map((m) => [m.text, m.senderId, m.conversationId]), newestFirst.slice(0, 10).map((_, i) => [`m${24 - i}`, 'hpg-a', conv]));

    // Forwards from before the first message.
    const fwd = await pageAll(b, conv, { afterId: '1' }, 10);
    assert.deepEqual(fwd.pages.map((p) => p.length), [10, 10, 5]);
    assert.deepEqual(fwd.hasMore, [true, true, false]);
    assert.deepEqual(fwd.pages.flat(), ids, 'oldest first, each message once');

    // has_more is exact when the last page is exactly full, in both directions.
    const fwdExact = await pageAll(b, conv, { afterId: ids[4] }, 10);
    assert.deepEqual(fwdExact.hasMore, [true, false]);
    assert.deepEqual(fwdExact.pages.flat(), ids.slice(5));
    const backExact = await pageAll(b, conv, { beforeId: ids[20] }, 10);
    assert.deepEqual(backExact.hasMore, [true, false]);
    assert.deepEqual(backExact.pages.flat(), ids.slice(0, 20).reverse());

    // Past either end: empty, nothing more.
    assert.deepEqual(await b.history({ conversationId: conv, afterId: ids[24] }), { conversationId: conv, messages: [], hasMore: false });
    assert.deepEqual(await b.history({ conversationId: conv, beforeId: ids[0] }), { conversationId: conv, messages: [], hasMore: false });
    await Promise.all([a.close(), b.close()]);
  });

  it('uses the default page size for limit 0 and caps large limits, over WS and HTTP', async () => {
    const a = await chatd.connect('hlim-a');
    const conv = dmConversationId('hlim-a', 'hlim-b');
    const ids = await sendMany(a, conv, 25);
    const newestFirst = [...ids].reverse();

    const byDefault = await a.history({ conversationId: conv, limit: 0 });
    assert.deepEqual(idsOf(byDefault), newestFirst.slice(0, 10));
    assert.equal(byDefault.hasMore, true);
    const capped = await a.history({ conversationId: conv, limit: 1_000_000 });
    assert.deepEqual(idsOf(capped), newestFirst.slice(0, 20));
    assert.equal(capped.hasMore, true);
    const cappedForward = await a.history({ conversationId: conv, afterId: '1', limit: 4_000_000_000 });
    assert.deepEqual(idsOf(cappedForward), ids.slice(0, 20));

    const api = await chatd.api('hlim-b');
    const http = await api.listMessages({ conversationId: conv, limit: 1000 });
    assert.deepEqual(http.messages.map((m) => m.messageId), newestFirst.slice(0, 20));
    assert.equal(http.hasMore, true);
    const httpDefault = await api.listMessages({ conversationId: conv, beforeId: ids[12] });
    assert.deepEqual(httpDefault.messages.map((m) => m.messageId), ids.slice(2, 12).reverse());
    assert.equal(httpDefault.hasMore, true);
    await a.close();
  });

  it('refuses both cursors, malformed cursors and non-participants', async () => {
    const a = await chatd.connect('hbad-a', { format: 'json' });
    const conv = dmConversationId('hbad-a', 'hbad-b');
    const [id] = await sendMany(a, conv, 3);

    await assert.rejects(a.history({ conversationId: conv, beforeId: id, afterId: id }), { code: 'ERROR_CODE_INVALID_ARGUMENT' });
    // JSON carries uint64 as strings, so a client can send something that is not a number.
    for (const bad of ['abc', '-5', '12x', '1.5', '18446744073709551616']) {
      await assert.rejects(a.history({ conversationId: conv, beforeId: bad }), { code: 'ERROR_CODE_INVALID_ARGUMENT' }, `before_id ${bad}`);
      await assert.rejects(a.history({ conversationId: conv, afterId: bad }), { code: 'ERROR_CODE_INVALID_ARGUMENT' }, `after_id ${bad}`);
    }
    await assert.rejects(a.history({ conversationId: 'dm:hbad-b:hbad-a' }), { code: 'ERROR_CODE_INVALID_ARGUMENT' }, 'non-canonical DM id');
    assert.ok(a.isOpen, 'bad queries do not cost the connection');

    const mallory = await chatd.connect('hbad-mallory');
    await assert.rejects(mallory.history({ conversationId: conv }), { code: 'ERROR_CODE_PERMISSION_DENIED' });
    const group = await (await chatd.api('hbad-a')).createGroup('private', ['hbad-b']);
    await a.send(group.conversationId, 'members only');
    await assert.rejects(mallory.history({ conversationId: group.conversationId }), { code: 'ERROR_CODE_PERMISSION_DENIED' });

    const malloryApi = await chatd.api('hbad-mallory');
    await assert.rejects(malloryApi.listMessages({ conversationId: conv }), { code: 'permission_denied' });
    await assert.rejects((await chatd.api('hbad-a')).listMessages({ conversationId: conv, beforeId: id, afterId: id }), { code: 'invalid_argument' });
    await assert.rejects((await chatd.api('hbad-a')).listMessages({ conversationId: conv, afterId: 'abc' }), { code: 'invalid_argument' });
    await Promise.all([a.close(), mallory.close()]);
  });

  it('lists conversations newest first with their last message, paged by before_message_id', async () => {
    const me = await chatd.connect('hlc-me');
    const convOf = (peer: string): string => dmConversationId('hlc-me', peer);
    await me.send(convOf('hlc-x'), 'to x');
    await me.send(convOf('hlc-y'), 'to y');
    await me.send(convOf('hlc-z'), 'to z');
    const y = await chatd.connect('hlc-y');
    const lastX = await me.send(convOf('hlc-x'), 'to x again');
    const lastY = await y.send(convOf('hlc-y'), 'y answers');

    const api = await chatd.api('hlc-me');
    const all = await api.listConversations();
    assert.deepEqual(all.conversations.map((c) => c.conversationId), [convOf('hlc-y'), convOf('hlc-x'), convOf('hlc-z')]);
    assert.equal(all.hasMore, false);
    assert.deepEqual(
      all.conversations.map((c) => [c.lastMessage?.messageId, c.lastMessage?.text, c.lastMessage?.senderId]),
      [[lastY.messageId, 'y answers', 'hlc-y'], [lastX.messageId, 'to x again', 'hlc-me'], [all.conversations[2].lastMessage?.messageId, 'to z', 'hlc-me']],
    );

    const p1 = await api.listConversations({ limit: 2 });
    assert.deepEqual(p1.conversations.map((c) => c.conversationId), [convOf('hlc-y'), convOf('hlc-x')]);
    assert.equal(p1.hasMore, true);
    const p2 = await api.listConversations({ limit: 2, beforeMessageId: p1.conversations[1].lastMessage!.messageId });
    assert.deepEqual(p2.conversations.map((c) => c.conversationId), [convOf('hlc-z')]);
    assert.equal(p2.hasMore, false);

    // The other side sees only its own conversation.
    const yList = await (await chatd.api('hlc-y')).listConversations();
    assert.deepEqual(yList.conversations.map((c) => [c.conversationId, c.lastMessage?.messageId]), [[convOf('hlc-y'), lastY.messageId]]);
    assert.deepEqual((await (await chatd.api('hlc-stranger')).listConversations()).conversations, []);
    await Promise.all([me.close(), y.close()]);
  });

  it('lists a group conversation for its members and drops it for a member who left', async () => {
    const adminApi = await chatd.api('hgrp-admin');
    const group = await adminApi.createGroup('team', ['hgrp-stay', 'hgrp-leave']);
    const admin = await chatd.connect('hgrp-admin');
    const dm = await admin.send(dmConversationId('hgrp-admin', 'hgrp-leave'), 'dm first');
    const last = await admin.send(group.conversationId, 'welcome all');

    const stayApi = await chatd.api('hgrp-stay');
    const leaveApi = await chatd.api('hgrp-leave');
    const listed = async (api: typeof stayApi): Promise<[string, string | undefined][]> =>
      (await api.listConversations()).conversations.map((c) => [c.conversationId, c.lastMessage?.messageId]);
    assert.deepEqual(await listed(stayApi), [[group.conversationId, last.messageId]]);
    assert.deepEqual(await listed(leaveApi), [[group.conversationId, last.messageId], [dmConversationId('hgrp-admin', 'hgrp-leave'), dm.messageId]]);

    await leaveApi.removeMembers(group.groupId, ['hgrp-leave']);
    assert.deepEqual(await listed(leaveApi), [[dmConversationId('hgrp-admin', 'hgrp-leave'), dm.messageId]]);
    assert.deepEqual(await listed(stayApi), [[group.conversationId, last.messageId]]);
    await assert.rejects(leaveApi.listMessages({ conversationId: group.conversationId }), { code: 'permission_denied' });

    // Messages after the leave do not bring it back.
    await admin.send(group.conversationId, 'after the leave');
    assert.deepEqual(await listed(leaveApi), [[dmConversationId('hgrp-admin', 'hgrp-leave'), dm.messageId]]);
    await admin.close();
  });

  it('pages ListConversations past a group the caller left', async () => {
    const adminApi = await chatd.api('hpl-admin');
    const admin = await chatd.connect('hpl-admin');
    const dm = await admin.send(dmConversationId('hpl-admin', 'hpl-me'), 'older dm');
    const group = await adminApi.createGroup('left', ['hpl-me']);
    await admin.send(group.conversationId, 'newer group message');
    const me = await chatd.api('hpl-me');
    await me.removeMembers(group.groupId, ['hpl-me']);

    const page = await me.listConversations({ limit: 1 });
    // The client pages with the last entry's last_message_id; an empty page leaves it no cursor.
    assert.deepEqual(page.conversations.map((c) => c.lastMessage?.messageId), [dm.messageId]);
    assert.equal(page.hasMore, false);
    await admin.close();
  });
});

describe('chatd history across a restart', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start(LIMITS)));
  after(async () => chatd.stop());

  it('scrolls history after restarting chatd', async () => {
    const a = await chatd.connect('hrs-a');
    const conv = dmConversationId('hrs-a', 'hrs-b');
    const ids = await sendMany(a, conv, 15, 'before-');
    const group = await (await chatd.api('hrs-a')).createGroup('durable', ['hrs-b']);
    const groupMsg = await a.send(group.conversationId, 'group before');
    await a.close();

    await chatd.restart();

    const b = await chatd.connect('hrs-b');
    const back = await pageAll(b, conv, {}, 10);
    assert.deepEqual(back.pages.flat(), [...ids].reverse());
    assert.deepEqual(back.hasMore, [true, false]);
    const texts = (await b.history({ conversationId: conv, afterId: '1', limit: 20 })).messages.map((m) => m.text);
    assert.deepEqual(texts, Array.from({ length: 15 }, (_, i) => `before-${i}`));
    assert.deepEqual(idsOf(await b.history({ conversationId: group.conversationId })), [groupMsg.messageId]);

    const list = await (await chatd.api('hrs-b')).listConversations();
    assert.deepEqual(list.conversations.map((c) => [c.conversationId, c.lastMessage?.messageId]), [[group.conversationId, groupMsg.messageId], [conv, ids[14]]]);

    // New messages continue the same history, with larger ids.
    const after = await b.send(conv, 'after restart');
    assert.ok(BigInt(after.messageId) > BigInt(ids[14]), 'ids keep increasing across the restart');
    const newest = await b.history({ conversationId: conv, limit: 2 });
    assert.deepEqual(idsOf(newest), [after.messageId, ids[14]]);
    await b.close();
  });
});
