import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GapReason, type HistoryPage, type ResumeComplete, type ResumeGap } from '../../gen/chat/v1/gateway';
import type { ChatMessage } from '../../gen/chat/v1/message';
import type { Principal } from '../auth/principal';
import { ChatError } from '../errors/chat-error';
import { rewindSnowflake, snowflakeFloor } from '../snowflake/snowflake';
import { resumeConversations, type ResumeContext } from './resume';

const OVERLAP_MS = 1000;
const GONE = 'g:1234567890';
const base = snowflakeFloor(Date.parse('2026-11-01T00:00:00Z'));
const msg = (conversationId: string, id: bigint): ChatMessage => ({ messageId: id.toString(), conversationId, senderId: 'x', clientMsgId: `c${id}`, text: 't', createdAt: new Date(), seq: '0', epoch: '0' });
/** Saved or unsaved positions: hints, but for the conversations named in `exact`. */
const cursors = (m: Map<string, bigint>, exact: readonly string[] = []) => new Map([...m].map(([c, id]) => [c, { messageId: id, exact: exact.includes(c) }]));

/** A resume against fakes: per conversation, what history answers (messages after the cursor, or an error). */
async function run(opts: {
  lastSeen: Record<string, string>;
  resumeAfter?: Record<string, string>;
  /** Conversations whose saved or unsaved position is exact. */
  exact?: string[];
  history: Record<string, bigint[] | ChatError>;
  caughtUp?: boolean;
  saved?: Map<string, bigint> | ChatError;
  /** Acknowledged on this server, not saved yet. */
  unsaved?: Map<string, bigint>;
  maxMessages?: number;
}) {
  const frames = { pages: [] as HistoryPage[], gaps: [] as ResumeGap[], errors: [] as ChatError[], complete: [] as ResumeComplete[] };
  const waits: number[] = [];
  const ctx: ResumeContext = {
    limits: { resumeMaxMessages: opts.maxMessages ?? 10, resumeMaxConversations: 10, resumeOverlapMs: OVERLAP_MS, resumeSyncWaitMs: 250 } as ResumeContext['limits'],
    cursors: {
      loadDeviceCursors: () => (opts.saved instanceof ChatError ? Promise.reject(opts.saved) : Promise.resolve(cursors(opts.saved ?? new Map<string, bigint>(), opts.exact))),
    },
    acks: { unsaved: () => (opts.unsaved ? cursors(opts.unsaved, opts.exact) : undefined) },
    historyCatchUp: { waitForHistory: (ms) => (waits.push(ms), Promise.resolve(opts.caughtUp ?? true)) },
    history: {
      history: (_p: Principal, q: { conversationId: string; afterId: string; limit: number }) => {
        const h = opts.history[q.conversationId];
        if (h instanceof ChatError) return Promise.reject(h);
        const after = (h ?? []).filter((id) => id > BigInt(q.afterId));
        return Promise.resolve({ messages: after.slice(0, q.limit).map((id) => msg(q.conversationId, id)), hasMore: after.length > q.limit });
      },
    } as unknown as ResumeContext['history'],
  };
  await resumeConversations(
    { ctx, principal: { kind: 'user', id: 'ann' }, deviceId: 'phone', lastSeen: opts.lastSeen, resumeAfter: opts.resumeAfter ?? {} },
    { page: (p) => frames.pages.push(p), gap: (g) => frames.gaps.push(g), error: (e) => frames.errors.push(e), complete: (c) => frames.complete.push(c) },
  );
  return { ...frames, waits };
}

describe('resumeConversations', () => {
  const seen = base + (5000n << 22n);
  const late = seen - (200n << 22n); // 200 ms older than the newest seen, inside the window
  const ancient = seen - (5000n << 22n); // outside it

  it('reads from the position rewound by the overlap window, after history caught up', async () => {
    const r = await run({ lastSeen: { 'dm:ann:bob': seen.toString() }, history: { 'dm:ann:bob': [ancient, late, seen] } });
    assert.deepEqual(r.waits, [250], 'waited for history once, bounded by CHAT_RESUME_SYNC_WAIT_MS');
    assert.deepEqual(r.pages.map((p) => p.messages.map((m) => BigInt(m.messageId))), [[late, seen]]);
    assert.deepEqual(r.gaps, []);
    assert.deepEqual(r.complete, [{ conversations: 1, gaps: 0 }]);
  });

  it('replays what history has and names a HISTORY_BEHIND gap when the sync worker did not catch up in time', async () => {
    const r = await run({ lastSeen: { 'dm:ann:bob': seen.toString() }, history: { 'dm:ann:bob': [late] }, caughtUp: false, maxMessages: 1 });
    assert.equal(r.pages.length, 1);
    assert.deepEqual(r.gaps, [{ conversationId: 'dm:ann:bob', afterId: rewindSnowflake(seen, OVERLAP_MS).toString(), reason: GapReason.GAP_REASON_HISTORY_BEHIND }], 'from the window start, even past a full page');
    assert.deepEqual(r.complete, [{ conversations: 1, gaps: 1 }]);
  });

  it('names a HISTORY_UNAVAILABLE gap for a conversation history cannot read, and goes on with the others', async () => {
    const r = await run({
      lastSeen: { 'dm:ann:bob': seen.toString(), 'dm:ann:cat': seen.toString(), [GONE]: seen.toString() },
      history: { 'dm:ann:bob': ChatError.unavailable('cassandra is down'), 'dm:ann:cat': [seen + 1n], [GONE]: ChatError.permissionDenied('not a member') },
    });
    assert.deepEqual(r.gaps.map((g) => [g.conversationId, g.reason]), [['dm:ann:bob', GapReason.GAP_REASON_HISTORY_UNAVAILABLE]]);
    assert.deepEqual(r.pages.map((p) => p.conversationId), ['dm:ann:cat']);
    assert.deepEqual(r.complete, [{ conversations: 3, gaps: 1 }], 'a conversation the user left is dropped, not a gap');
  });

  it('reports saved positions it cannot read and still replays those named in hello', async () => {
    const r = await run({ lastSeen: { 'dm:ann:bob': seen.toString() }, history: { 'dm:ann:bob': [seen + 1n] }, saved: ChatError.unavailable('history service down') });
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0].message, /saved resume positions could not be read/);
    assert.equal(r.pages.length, 1);
    assert.deepEqual(r.complete, [{ conversations: 1, gaps: 0 }]);
  });

  it('raises saved positions to the acks this server has not written yet; last_seen still wins', async () => {
    const r = await run({
      lastSeen: { 'dm:ann:cat': ancient.toString() },
      saved: new Map([['dm:ann:bob', ancient]]),
      unsaved: new Map([['dm:ann:bob', seen], ['dm:ann:cat', seen]]),
      history: { 'dm:ann:bob': [ancient + 1n, seen + 1n], 'dm:ann:cat': [ancient + 1n, seen + 1n] },
    });
    const pages = new Map(r.pages.map((p) => [p.conversationId, p.messages.map((m) => BigInt(m.messageId))]));
    assert.deepEqual(pages.get('dm:ann:bob'), [seen + 1n], 'from the unsaved ack, not the older saved position');
    assert.deepEqual(pages.get('dm:ann:cat'), [ancient + 1n, seen + 1n], 'from last_seen');
  });

  it('replays exactly after a resume_after position, with no rewind, and it wins over last_seen', async () => {
    const r = await run({
      lastSeen: { 'dm:ann:bob': ancient.toString(), 'dm:ann:cat': seen.toString() },
      resumeAfter: { 'dm:ann:bob': late.toString() },
      history: { 'dm:ann:bob': [ancient, late, seen], 'dm:ann:cat': [late, seen] },
    });
    const pages = new Map(r.pages.map((p) => [p.conversationId, p.messages.map((m) => BigInt(m.messageId))]));
    assert.deepEqual(pages.get('dm:ann:bob'), [seen], 'only what comes after the held message');
    assert.deepEqual(pages.get('dm:ann:cat'), [late, seen], 'a last_seen hint is still rewound');
  });

  it('replays exactly after a saved exact position, and rewinds a saved hint', async () => {
    const r = await run({
      lastSeen: {},
      saved: new Map([['dm:ann:bob', late], ['dm:ann:cat', seen]]),
      exact: ['dm:ann:bob'],
      history: { 'dm:ann:bob': [late, seen], 'dm:ann:cat': [late, seen] },
    });
    const pages = new Map(r.pages.map((p) => [p.conversationId, p.messages.map((m) => BigInt(m.messageId))]));
    assert.deepEqual(pages.get('dm:ann:bob'), [seen]);
    assert.deepEqual(pages.get('dm:ann:cat'), [late, seen]);
  });

  it('reports a bad resume_after entry and replays the rest', async () => {
    const r = await run({ lastSeen: {}, resumeAfter: { 'dm:ann:bob': 'nope', 'dm:ann:cat': late.toString() }, history: { 'dm:ann:cat': [seen] } });
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0].message, /resume_after\[dm:ann:bob\]/);
    assert.deepEqual(r.pages.map((p) => p.conversationId), ['dm:ann:cat']);
  });

  it('does not wait for history when there is nothing to replay', async () => {
    const r = await run({ lastSeen: {}, history: {} });
    assert.deepEqual(r.waits, []);
    assert.deepEqual(r.complete, [{ conversations: 0, gaps: 0 }]);
  });
});
