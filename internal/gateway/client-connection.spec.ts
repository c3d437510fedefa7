import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ConnectResponse } from '../../gen/chat/v1/gateway';
import { waitUntil } from '../testing/wait-until';
import { ClientConnection } from './client-connection';
import type { GatewayContext, GatewayLimits } from './gateway-context';

describe('ClientConnection liveness', () => {
  it('counts a heartbeat when it arrives, even while an earlier one waits on the session service', async () => {
    let now = 1_000_000;
    const stuck: Promise<{ unknown: string[] }>[] = [];
    const ctx = {
      serverId: 'chat-1',
      serverAddress: '',
      now: () => now,
      log: pino({ level: 'silent' }),
      limits: { heartbeatIntervalMs: 5000, presenceTtlMs: 10_000, sendRatePerSec: 10, sendBurst: 10, maxProtocolErrors: 10, maxPresenceSubscriptions: 10, resumeMaxMessages: 10, resumeMaxConversations: 10, resumeOverlapMs: 0, resumeSyncWaitMs: 0, typingRatePerSec: 1, handshakeTimeoutMs: 10_000 } as GatewayLimits,
      verifier: { verify: () => Promise.resolve({ kind: 'user', id: 'ann' }) },
      // The session service answers registrations and never answers heartbeats (it is behind).
      sessions: { register: () => Promise.resolve({ becameOnline: true }), heartbeat: () => (stuck.push(new Promise(() => undefined)), stuck[stuck.length - 1]) },
      registry: { add: () => undefined },
      cursors: { loadDeviceCursors: () => Promise.resolve(new Map()) },
      historyCatchUp: { waitForHistory: () => Promise.resolve(true) },
    } as unknown as GatewayContext;
    const frames: ConnectResponse[] = [];
    const conn = new ClientConnection(ctx, { send: (f) => frames.push(f), close: () => undefined });
    conn.receive({ requestId: '1', frame: { $case: 'hello', value: { token: 't', deviceId: 'phone', lastSeen: {} } } });
    await waitUntil(() => frames.some((f) => f.frame?.$case === 'resumeComplete'), 2_000, 'the hello to be answered');

    conn.receive({ requestId: '2', frame: { $case: 'heartbeat', value: {} } });
    await waitUntil(() => stuck.length === 1, 2_000, 'the first heartbeat to reach the session service');
    now += 8_000;
    conn.receive({ requestId: '3', frame: { $case: 'heartbeat', value: {} } });
    assert.equal(conn.lastBeatAtMs, now, 'the queued heartbeat kept the connection alive');
    assert.equal(stuck.length, 1, 'it is still queued behind the first');
  });
});
