import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { errorCodeToJSON } from '../../gen/chat/v1/errors';
import { ConnectRequest } from '../../gen/chat/v1/gateway';
import type { ChatApi } from '../../internal/client/chat-api';
import type { ChatClient } from '../../internal/client/chat-client';
import { ChatClientError } from '../../internal/client/chat-client-error';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { TestChatd } from './testing/chatd-harness';

/**
 * Authorization on every read and write, as one table of (actor, action, target) → allowed or
 * denied, run in order against one chatd (WS frames through ChatClient, unary RPCs over HTTP
 * through ChatApi). The cast:
 * - alice and bob share a DM with messages in it;
 * - carol created group G (she is its admin) with alice and erin as members;
 * - mallory shares nothing with anyone; dave is added to G and removed again by the table.
 * "denied" means exactly PERMISSION_DENIED; any other error fails the test.
 */
type Verdict = 'allowed' | 'denied';
type User = 'alice' | 'bob' | 'carol' | 'erin' | 'mallory';
const USERS: readonly User[] = ['alice', 'bob', 'carol', 'erin', 'mallory'];

describe('chatd authorization: (actor, action, target) → allowed / denied', () => {
  let chatd: TestChatd;
  const ws = {} as Record<User, ChatClient>;
  const http = {} as Record<User, ChatApi>;
  const dm = dmConversationId('alice', 'bob');
  let group = '';
  let groupId = '';
  let dmMessage = '';
  let groupMessage = '';
  let probe = 0;

  before(async () => {
    chatd = await TestChatd.start({ sendRatePerSec: '1000', sendBurst: '1000' });
    for (const u of USERS) {
      ws[u] = await chatd.connect(u, { autoHeartbeat: false });
      http[u] = await chatd.api(u);
    }
    dmMessage = (await ws.alice.send(dm, 'a secret between alice and bob')).messageId;
    const g = await http.carol.createGroup('G', ['alice', 'erin']);
    groupId = g.groupId;
    group = `g:${groupId}`;
    groupMessage = (await ws.carol.send(group, 'a secret of group G')).messageId;
  });
  after(async () => {
    await Promise.all(USERS.map((u) => ws[u].close()));
    await chatd.stop();
  });

  /** A frame the server does not answer on success: sent with a request id, then a heartbeat as the barrier. */
  async function unanswered(c: ChatClient, frame: NonNullable<ConnectRequest['frame']>): Promise<void> {
    const requestId = `probe-${++probe}`;
    c.sendRaw(ConnectRequest.encode({ requestId, frame }).finish());
    await c.heartbeat();
    const err = c.pushedFrames().find((f) => f.frame?.$case === 'error' && f.requestId === requestId);
    if (err?.frame?.$case === 'error') throw new ChatClientError(errorCodeToJSON(err.frame.value.code), err.frame.value.message);
  }

  const ACTIONS = {
    'ws send': (u: User, conv: string) => ws[u].send(conv, `from ${u}`),
    'ws history': (u: User, conv: string) => ws[u].history({ conversationId: conv }),
    'ws typing': (u: User, conv: string) => unanswered(ws[u], { $case: 'typing', value: { conversationId: conv } }),
    'ws read': (u: User, conv: string) => unanswered(ws[u], { $case: 'read', value: { conversationId: conv, messageId: conv === dm ? dmMessage : groupMessage } }),
    'ws subscribe presence': (u: User, target: string) => ws[u].subscribePresence([target]),
    'http list messages': (u: User, conv: string) => http[u].listMessages({ conversationId: conv }),
    'http list conversations of': (u: User, target: string) => http[u].listConversations({ userId: target }),
    'http get presence': async (u: User, target: string) => {
      // GetPresence omits users the caller may not see instead of failing the whole call.
      if (!(await http[u].getPresence([target])).some((p) => p.userId === target)) throw new ChatClientError('permission_denied', 'omitted');
    },
    'http get group': (u: User) => http[u].getGroup(groupId),
    'http list members': (u: User) => http[u].listMembers(groupId),
    'http add members': (u: User, target: string) => http[u].addMembers(groupId, [target]),
    'http remove members': (u: User, target: string) => http[u].removeMembers(groupId, [target]),
    'http append message (internal)': async (u: User) => {
      const r = await fetch(`${chatd.httpUrl}/chat.v1.HistoryService/AppendMessage`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', authorization: `Bearer ${await chatd.token(u)}` } });
      if (!r.ok) throw new ChatClientError(((await r.json()) as { code: string }).code, `HTTP ${r.status}`);
    },
  } as const;

  /** Targets: DM, G and mallory-dm resolve at run time; other strings are user ids. */
  const TABLE: Array<[User, keyof typeof ACTIONS, string, Verdict]> = [
    ['alice', 'ws send', 'DM', 'allowed'],
    ['bob', 'ws send', 'DM', 'allowed'],
    ['mallory', 'ws send', 'DM', 'denied'],
    ['mallory', 'ws send', 'mallory-dm', 'allowed'],
    ['alice', 'ws send', 'G', 'allowed'],
    ['bob', 'ws send', 'G', 'denied'],
    ['mallory', 'ws send', 'G', 'denied'],
    ['alice', 'ws history', 'DM', 'allowed'],
    ['mallory', 'ws history', 'DM', 'denied'],
    ['erin', 'ws history', 'G', 'allowed'],
    ['bob', 'ws history', 'G', 'denied'],
    ['bob', 'http list messages', 'DM', 'allowed'],
    ['mallory', 'http list messages', 'DM', 'denied'],
    ['alice', 'http list messages', 'G', 'allowed'],
    ['mallory', 'http list messages', 'G', 'denied'],
    ['alice', 'ws typing', 'DM', 'allowed'],
    ['mallory', 'ws typing', 'DM', 'denied'],
    ['erin', 'ws typing', 'G', 'allowed'],
    ['bob', 'ws typing', 'G', 'denied'],
    ['bob', 'ws read', 'DM', 'allowed'],
    ['mallory', 'ws read', 'DM', 'denied'],
    ['alice', 'ws read', 'G', 'allowed'],
    ['bob', 'ws read', 'G', 'denied'],
    ['alice', 'ws subscribe presence', 'bob', 'allowed'],
    ['alice', 'ws subscribe presence', 'carol', 'allowed'],
    ['bob', 'ws subscribe presence', 'carol', 'denied'],
    ['mallory', 'ws subscribe presence', 'alice', 'denied'],
    ['bob', 'http get presence', 'alice', 'allowed'],
    ['mallory', 'http get presence', 'alice', 'denied'],
    ['alice', 'http list conversations of', 'alice', 'allowed'],
    ['mallory', 'http list conversations of', 'alice', 'denied'],
    ['erin', 'http get group', 'G', 'allowed'],
    ['mallory', 'http get group', 'G', 'denied'],
    ['alice', 'http list members', 'G', 'allowed'],
    ['bob', 'http list members', 'G', 'denied'],
    ['alice', 'http add members', 'mallory', 'denied'],
    ['mallory', 'http add members', 'mallory', 'denied'],
    ['carol', 'http add members', 'dave', 'allowed'],
    ['alice', 'http remove members', 'carol', 'denied'],
    ['mallory', 'http remove members', 'alice', 'denied'],
    ['carol', 'http remove members', 'dave', 'allowed'],
    ['alice', 'http append message (internal)', 'DM', 'denied'],
    ['erin', 'http remove members', 'erin', 'allowed'],
    ['erin', 'ws send', 'G', 'denied'],
    ['erin', 'ws history', 'G', 'denied'],
  ];

  it('gives each row its verdict', async () => {
    const wrong: string[] = [];
    for (const [actor, action, target, expected] of TABLE) {
      const resolved = target === 'DM' ? dm : target === 'G' ? group : target === 'mallory-dm' ? dmConversationId('mallory', 'zed') : target;
      let got: Verdict;
      try {
        await ACTIONS[action](actor, resolved);
        got = 'allowed';
      } catch (err) {
        const code = err instanceof ChatClientError ? err.code : String(err);
        if (code !== 'ERROR_CODE_PERMISSION_DENIED' && code !== 'permission_denied') throw new Error(`${actor} ${action} ${target}: unexpected ${code}: ${(err as Error).message}`);
        got = 'denied';
      }
      if (got !== expected) wrong.push(`${actor} ${action} ${target}: expected ${expected}, got ${got}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('leaked nothing to the users who were denied', () => {
    const secretsSeenBy = (u: User) =>
      ws[u].pushedFrames().filter((f) => {
        const c = f.frame?.$case;
        if (c === 'message' && f.frame?.$case === 'message') return f.frame.value.conversationId === dm || f.frame.value.conversationId === group;
        if (c === 'historyPage' && f.frame?.$case === 'historyPage') return f.frame.value.messages.length > 0 && f.frame.value.conversationId !== dmConversationId('mallory', 'zed');
        return c === 'typing' || c === 'receipt' || c === 'receiptSummary' || c === 'presence';
      });
    assert.deepEqual(secretsSeenBy('mallory'), [], 'mallory shares nothing');
    assert.deepEqual(
      ws.bob.pushedFrames().filter((f) => f.frame?.$case === 'message' && f.frame.value.conversationId === group),
      [],
      'bob is not in G',
    );
  });
});
