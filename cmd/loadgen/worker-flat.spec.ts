import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';
import { waitUntil } from '../../internal/testing/wait-until';
import { nowUs, peekCase } from './frames';
import { runFlatLoad, runFlatSetup, type FlatConn, type FlatHost, type FrameHook } from './worker-flat';
import type { ToParent } from './worker-protocol';

/**
 * The worker's side of the flat workload against a scripted server: each connection records the
 * frames it is sent and answers them as `answer` says, through the hook the workload installs
 * (as the worker's WebSocket handler would). The server's answers are hand-made frames.
 */

interface Conn extends FlatConn {
  frames: ConnectRequest[];
  hook?: FrameHook;
}

type Answer = (conn: Conn, req: ConnectRequest) => ConnectResponse[];

const pong = (requestId: string): ConnectResponse => ({ requestId, frame: { $case: 'pong', value: { serverTime: new Date() } } });
const refused = (requestId: string): ConnectResponse => ({ requestId, frame: { $case: 'error', value: { code: ErrorCode.ERROR_CODE_PERMISSION_DENIED, message: 'no shared conversation with: x', requestId } } });
const acked = (requestId: string): ConnectResponse => ({ requestId, frame: { $case: 'sendAck', value: { clientMsgId: 'c', messageId: '1', conversationId: 'dm:a:b', createdAt: new Date(), seq: '1', epoch: '1' } } });

/** A host of recording connections, one per user, answering through `answer`. */
function scriptedHost(users: string[], answer: Answer) {
  const replies: ToParent[] = [];
  const errors: Record<string, number> = {};
  const counts: Record<string, number> = {};
  const timed: string[] = [];
  const conns = new Map<string, Conn>();
  const open = (user: string): Conn => {
    const conn: Conn = {
      userId: user,
      frames: [],
      ws: {
        send: (data) => {
          const req = ConnectRequest.decode(data);
          conn.frames.push(req);
          for (const res of answer(conn, req)) {
            const buf = Buffer.from(ConnectResponse.encode(res).finish());
            queueMicrotask(() => conn.hook?.(peekCase(buf), buf));
          }
        },
      },
    };
    conns.set(user, conn);
    return conn;
  };
  users.forEach(open);
  const away = new Set<string>();
  const host: FlatHost<Conn> = {
    conn: (user) => (away.has(user) ? undefined : conns.get(user)),
    setHook: (conn, hook) => void (conn.hook = hook),
    leave: (conn) => void away.add(conn.userId),
    rejoin: (user) => {
      away.delete(user);
      return Promise.resolve(open(user));
    },
    sendTimed: (conn) => void timed.push(conn.userId),
    beginPhase: () => undefined,
    count: (what, n = 1) => void (counts[what] = (counts[what] ?? 0) + n),
    countError: (what) => void (errors[what] = (errors[what] ?? 0) + 1),
    reply: (msg) => void replies.push(msg),
  };
  return { host, conns, replies, errors, counts, timed };
}

const cases = (c: Conn) => c.frames.map((f) => f.frame?.$case);

describe('the flat workload in a loadgen worker', () => {
  it('seeds each conversation, then subscribes again while the server refuses, until it does not', async () => {
    let refusals = 2;
    const h = scriptedHost(['ann', 'bob'], (conn, req) => {
      const f = req.frame;
      if (f?.$case === 'send') return [acked(req.requestId)];
      if (f?.$case === 'subscribePresence') return conn.userId === 'ann' && refusals-- > 0 ? [refused(req.requestId)] : [];
      if (f?.$case === 'heartbeat') return [pong(req.requestId)];
      return [];
    });
    runFlatSetup({ op: 'flatSetup', runId: 'r', concurrency: 10, retryMs: 1, deadlineMs: Date.now() + 10_000, users: [{ user: 'ann', conversations: ['dm:ann:bob', 'dm:ann:cy'], watch: ['bob', 'cy'] }, { user: 'bob', conversations: ['dm:bob:cy'], watch: ['cy'] }] }, h.host);
    await waitUntil(() => h.replies.length === 1, 5_000, 'flatReady');
    assert.deepEqual(h.replies[0], { op: 'flatReady', users: 2, subscribed: 2 });
    assert.deepEqual(cases(h.conns.get('ann')!), ['send', 'send', 'subscribePresence', 'heartbeat', 'subscribePresence', 'heartbeat', 'subscribePresence', 'heartbeat']);
    assert.deepEqual(cases(h.conns.get('bob')!), ['send', 'subscribePresence', 'heartbeat']);
    assert.deepEqual(h.conns.get('ann')!.frames[2].frame, { $case: 'subscribePresence', value: { userIds: ['bob', 'cy'] } });
    assert.deepEqual(h.errors, {}, 'a refusal the retry outlives is no error');
  });

  it('sets up at most `concurrency` users at once, the next as one is done', async () => {
    const order: string[] = [];
    const h = scriptedHost(['ann', 'bob', 'cy'], (conn, req) => {
      order.push(`${conn.userId} ${req.frame?.$case}`);
      return req.frame?.$case === 'heartbeat' ? [pong(req.requestId)] : [];
    });
    runFlatSetup({ op: 'flatSetup', runId: 'r', concurrency: 1, retryMs: 1, deadlineMs: Date.now() + 10_000, users: ['ann', 'bob', 'cy'].map((u) => ({ user: u, conversations: [`dm:${u}:zz`], watch: ['zz'] })) }, h.host);
    await waitUntil(() => h.replies.length === 1, 5_000, 'flatReady');
    assert.deepEqual(h.replies[0], { op: 'flatReady', users: 3, subscribed: 3 });
    assert.deepEqual(order, ['ann', 'bob', 'cy'].flatMap((u) => [`${u} send`, `${u} subscribePresence`, `${u} heartbeat`]));
  });

  it('gives up at the deadline, counting the user as not subscribed', async () => {
    const h = scriptedHost(['dee'], (_conn, req) => (req.frame?.$case === 'subscribePresence' ? [refused(req.requestId)] : req.frame?.$case === 'heartbeat' ? [pong(req.requestId)] : []));
    runFlatSetup({ op: 'flatSetup', runId: 'r', concurrency: 10, retryMs: 1, deadlineMs: Date.now() + 20, users: [{ user: 'dee', conversations: ['dm:dee:eve'], watch: ['eve'] }] }, h.host);
    await waitUntil(() => h.replies.length === 1, 5_000, 'flatReady');
    assert.deepEqual(h.replies[0], { op: 'flatReady', users: 1, subscribed: 0 });
    assert.equal(h.errors['subscribe: still refused at the deadline (no shared conversation in history)'], 1);
  });

  it('sends, types and churns at its rates until the window ends; a churned user rejoins and subscribes again', async () => {
    const users = ['u0', 'u1', 'u2', 'u3'];
    const h = scriptedHost(users, () => []);
    runFlatSetup({ op: 'flatSetup', runId: 'r', concurrency: 10, retryMs: 1, deadlineMs: Date.now(), users: users.map((u) => ({ user: u, conversations: [`dm:${u}:z`], watch: ['z'] })) }, h.host);
    const startUs = nowUs() + 10_000;
    // 200 ms: 20 sends at 100/s, 10 typing frames at 50/s, 4 churns at 20/s (each user once, back in 10 ms).
    runFlatLoad({ op: 'flatLoad', runId: 'r', pairs: users.map((u) => ({ user: u, conversationId: `dm:${u}:z` })), ratePerSec: 100, typingPerSec: 50, churn: [...users].reverse(), churnPerSec: 20, offlineMs: 10, textBytes: 64, startUs, measureFromUs: startUs, measureToUs: startUs + 200_000 }, h.host);
    await waitUntil(() => (h.counts.rejoined ?? 0) === 4 && nowUs() > startUs + 250_000, 5_000, 'the window to end and every churned user to be back');
    assert.equal(h.timed.length + (h.counts['sends skipped (user away)'] ?? 0), 20);
    assert.equal((h.counts.typing ?? 0) + (h.counts['typing skipped (user away)'] ?? 0), 10);
    assert.equal(h.counts.churned, 4);
    for (const u of users) {
      const again = h.conns.get(u)!.frames;
      assert.deepEqual(again[0].frame, { $case: 'subscribePresence', value: { userIds: ['z'] } }, `${u}'s new connection subscribes again, first`);
      assert.ok(again.slice(1).every((f) => f.frame?.$case === 'typing'), 'then only types (sends are timed, through the host)');
    }
  });
});
