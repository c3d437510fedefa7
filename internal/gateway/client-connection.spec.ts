import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ConnectResponse } from '../../gen/chat/v1/gateway';
import { waitUntil } from '../testing/wait-until';
import { ClientConnection } from './client-connection';
import type { GatewayContext, GatewayLimits } from './gateway-context';
import { embeddedAcks } from './testing/embedded-acks';

const LIMITS = { heartbeatIntervalMs: 5000, presenceTtlMs: 10_000, sendRatePerSec: 10, sendBurst: 10, maxProtocolErrors: 10, maxPresenceSubscriptions: 10, resumeMaxMessages: 10, resumeMaxConversations: 10, resumeOverlapMs: 0, resumeSyncWaitMs: 0, resumeConcurrency: 4, typingRatePerSec: 1, handshakeTimeoutMs: 10_000 } as GatewayLimits;

describe('ClientConnection liveness', () => {
  it('answers a heartbeat at once without calling the session service, and counts it when it arrives', async () => {
    let now = 1_000_000;
    const registering: Array<() => void> = [];
    const ctx = {
      serverId: 'chat-1',
      serverAddress: '',
      now: () => now,
      log: pino({ level: 'silent' }),
      limits: LIMITS,
      verifier: { verify: () => Promise.resolve({ kind: 'user', id: 'ann' }) },
      // Registration is slow (the session service is behind); nothing else of it exists: a heartbeat calling it would throw.
      sessions: { register: () => new Promise((resolve) => registering.push(() => resolve({ becameOnline: true }))) },
      registry: { add: () => undefined },
      cursors: { loadDeviceCursors: () => Promise.resolve(new Map()) },
      acks: { unsaved: () => undefined },
      historyCatchUp: { waitForHistory: () => Promise.resolve(true) },
    } as unknown as GatewayContext;
    const frames: ConnectResponse[] = [];
    const conn = new ClientConnection(ctx, { send: (f) => frames.push(f), close: () => undefined });
    conn.receive({ requestId: '1', frame: { $case: 'hello', value: { token: 't', deviceId: 'phone', lastSeen: {}, resumeAfter: {} } } });
    now += 8_000;
    conn.receive({ requestId: '2', frame: { $case: 'heartbeat', value: {} } });
    assert.equal(conn.lastBeatAtMs, now, 'the heartbeat queued behind the hello kept the connection alive');
    await waitUntil(() => registering.length === 1, 2_000, 'the registration');
    registering[0]();
    await waitUntil(() => frames.some((f) => f.frame?.$case === 'pong'), 2_000, 'the pong');
    assert.equal(frames.filter((f) => f.frame?.$case === 'welcome').length, 1);
  });
});

describe('ClientConnection acks', () => {
  it('hands the server\'s AckBatcher, per conversation, the newest id it delivered and the device acknowledged', async () => {
    const h = await embeddedAcks({ flushMs: 600_000, maxBatch: 100 });
    const ctx = {
      serverId: 'chat-1',
      serverAddress: '',
      now: Date.now,
      log: pino({ level: 'silent' }),
      limits: LIMITS,
      verifier: { verify: () => Promise.resolve({ kind: 'user', id: 'ann' }) },
      sessions: { register: () => Promise.resolve({ becameOnline: true }), unregister: () => Promise.resolve({ becameOffline: true }) },
      registry: { add: () => undefined, remove: () => undefined },
      cursors: h.messages,
      acks: h.acks,
      historyCatchUp: { waitForHistory: () => Promise.resolve(true) },
    } as unknown as GatewayContext;
    const frames: ConnectResponse[] = [];
    const conn = new ClientConnection(ctx, { send: (f) => frames.push(f), close: () => undefined });
    try {
      conn.receive({ requestId: '1', frame: { $case: 'hello', value: { token: 't', deviceId: 'phone', lastSeen: {}, resumeAfter: {} } } });
      await waitUntil(() => frames.some((f) => f.frame?.$case === 'resumeComplete'), 2_000, 'the hello to be answered');
      const message = (conversationId: string, n: bigint) => ({ messageId: n.toString(), conversationId, senderId: 'bob', clientMsgId: `c${n}`, text: 't', createdAt: new Date(), seq: '0', epoch: '0' });
      const [a, b, c] = [5n << 22n, 6n << 22n, 3n << 22n];
      conn.pushMessage(message('dm:ann:bob', a));
      conn.pushMessage(message('dm:ann:bob', b));
      conn.pushMessage(message('g:7', c));
      conn.pushMessage(message('dm:ann:bob', a)); // again (relay and fallback): not pushed twice
      assert.equal(frames.filter((f) => f.frame?.$case === 'message').length, 3);
      const notDelivered = (9n << 22n).toString();
      // The DM's position is named exactly (the device lacks a message before b); the group's is a hint.
      conn.receive({ requestId: '', frame: { $case: 'ack', value: { messageIds: [b.toString(), a.toString(), c.toString(), notDelivered], heldThrough: { 'dm:ann:bob': a.toString() } } } });
      await waitUntil(() => h.acks.unsaved('ann', 'phone') !== undefined, 2_000, 'the ack to be handled');
      const expected = new Map([['dm:ann:bob', { messageId: a, exact: true }], ['g:7', { messageId: c, exact: false }]]);
      assert.deepEqual(h.acks.unsaved('ann', 'phone'), expected);
      conn.receive({ requestId: '7', frame: { $case: 'ack', value: { messageIds: [], heldThrough: { 'dm:ann:bob': 'x' } } } });
      await waitUntil(() => frames.some((f) => f.frame?.$case === 'error'), 2_000, 'the bad held_through to be refused');
      const refused = frames.find((f) => f.frame?.$case === 'error');
      assert.match(refused?.frame?.$case === 'error' ? refused.frame.value.message : '', /held_through\[dm:ann:bob\]/);
      await conn.closed();
      await h.acks.flush();
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'phone'), expected);
    } finally {
      await h.close();
    }
  });
});
