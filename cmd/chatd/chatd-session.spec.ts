import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { backoffMs } from '../../internal/client/backoff';
import { nodeWebSocket, type ChatClient } from '../../internal/client/chat-client';
import { ChatSession, type ChatSessionOptions, type LinkState, type MessageSource } from '../../internal/client/chat-session';
import type { HeldPosition } from '../../internal/client/held-positions';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
import { TestChatd } from './testing/chatd-harness';

/** A session of the SDK against chatd, recording what it emits. */
class Recorded {
  readonly session: ChatSession;
  readonly got: { text: string; source: MessageSource }[] = [];
  readonly states: LinkState[] = [];
  positions: Record<string, HeldPosition> = {};
  caughtUp = 0;
  readonly run: Promise<void>;

  constructor(opts: ChatSessionOptions) {
    this.session = new ChatSession({ WebSocket: nodeWebSocket, requestTimeoutMs: 5_000, ...opts });
    this.session.on('messages', (ms: ChatMessage[], source) => this.got.push(...ms.map((m) => ({ text: m.text, source }))));
    this.session.on('positions', (p) => (this.positions = p));
    this.session.on('state', (s) => this.states.push(s));
    this.session.on('caughtUp', () => (this.caughtUp += 1));
    this.run = this.session.run();
    this.run.catch(() => undefined);
  }

  texts(): string[] {
    return this.got.map((g) => g.text);
  }
}

describe('ChatSession (the SDK) against chatd', () => {
  let chatd: TestChatd;
  let dataDir: string;
  let alice: ChatClient;
  const sessions: Recorded[] = [];
  const conv = dmConversationId('s-alice', 's-bob');
  const open = (opts: Partial<ChatSessionOptions> & { user?: string } = {}): Recorded => {
    const user = opts.user ?? 's-bob';
    const r = new Recorded({ url: () => chatd.wsUrl, token: () => chatd.token(user), deviceId: `${user}-sdk`, backoff: { initialMs: 50, maxMs: 200 }, ...opts });
    sessions.push(r);
    return r;
  };
  const send = async (...texts: string[]): Promise<void> => {
    for (const text of texts) await alice.send(conv, text);
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'chatd-session-'));
    chatd = await TestChatd.start({ dataDir, resumeMaxMessages: '2' });
    alice = await chatd.connect('s-alice');
  });
  after(async () => {
    await Promise.all(sessions.map((s) => s.session.stop()));
    await alice.close();
    await chatd.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('resumes from saved positions, pages past the replay limit, and shows each message once', async () => {
    const first = open();
    await waitUntil(() => first.caughtUp === 1, 5_000, 'the first session caught up');
    await send('one');
    await waitUntil(() => first.positions[conv] !== undefined, 5_000, 'positions saved from an ack');
    await first.session.stop();
    await first.run;
    assert.deepEqual(first.got, [{ text: 'one', source: 'live' }]);

    await send('two', 'three', 'four', 'five'); // more than the replay holds (2): a REPLAY_LIMIT gap
    const second = open({ positions: first.positions });
    await waitUntil(() => second.caughtUp === 1, 5_000, 'the second session caught up');
    assert.deepEqual(second.texts(), ['two', 'three', 'four', 'five'], 'exactly what was missed, once');
    assert.deepEqual(second.got.map((g) => g.source), ['replay', 'replay', 'page', 'page']);
    await send('six');
    await waitUntil(() => second.texts().includes('six'), 5_000, 'a live message after the resume');
    assert.deepEqual(second.session.positions()[conv].messageId, second.positions[conv]?.messageId, 'the ack named the held position');
  });

  it('reconnects after a server restart, with backoff, and resumes what was sent meanwhile', async () => {
    const s = open({ user: 's-carol' });
    const carolConv = dmConversationId('s-alice', 's-carol');
    await waitUntil(() => s.caughtUp === 1, 5_000, 'caught up');
    // A resume replays the conversations the device has a position in: carol holds this one
    // before the restart (a conversation begun while she is away is not replayed; she would find
    // it in her conversation list).
    await alice.send(carolConv, 'before the restart');
    await waitUntil(() => s.texts().includes('before the restart'), 5_000, 'the message before the restart');
    const port = new URL(chatd.httpUrl).port;
    await alice.close();
    await chatd.stop();
    await waitUntil(() => s.states.some((st) => st.kind === 'waiting'), 5_000, 'a waiting state');
    chatd = await TestChatd.start({ dataDir, httpPort: port, resumeMaxMessages: '2' });
    alice = await chatd.connect('s-alice');
    await alice.send(carolConv, 'while you were away');
    // Say where the session stood if the message never came.
    await waitUntil(() => s.texts().includes('while you were away'), 15_000, 'the message sent during the restart').catch((err: Error) => {
      throw new Error(`${err.message}; the session's last states: ${JSON.stringify(s.states.slice(-3))}; caught up ${s.caughtUp} times; got ${JSON.stringify(s.got)}`);
    });
    assert.equal(s.texts().filter((t) => t === 'while you were away').length, 1);
    assert.equal(s.states.at(-1)?.kind, 'open');
  });

  it('signs out on a refused fixed token, and fails fast on a wrong address when asked to', async () => {
    const refused = open({ token: 'not-a-jwt' });
    await assert.rejects(refused.run, (err: Error & { code?: string }) => err.code === 'ERROR_CODE_UNAUTHENTICATED');
    assert.equal(refused.states.at(-1)?.kind, 'signed-out');

    const nowhere = open({ url: 'ws://127.0.0.1:1/ws', retryFirstConnect: false });
    await assert.rejects(nowhere.run, (err: Error & { code?: string }) => err.code === 'unavailable');
    assert.equal(nowhere.states.at(-1)?.kind, 'stopped');
  });

  it('spaces reconnects by capped exponential backoff with jitter', () => {
    assert.deepEqual([1, 2, 3, 10].map((n) => backoffMs(n, { initialMs: 100, maxMs: 1_000, jitter: 0 })), [100, 200, 400, 1_000]);
    assert.equal(backoffMs(1, { initialMs: 100, jitter: 0.5 }, () => 0), 50);
    assert.equal(backoffMs(1, { initialMs: 100, jitter: 0.5 }, () => 1), 150);
  });
});
