import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { PresenceStatus, type UserPresence } from '../../gen/chat/v1/message';
import { MemoryBus } from '../bus/bus-memory';
import { waitUntil } from '../testing/wait-until';
import { PRESENCE_TOPIC, decodePresence } from './presence-topic';
import { MemorySessionStore } from './session-store-memory';
import { SessionTracker } from './session-tracker';

describe('SessionTracker', () => {
  it('publishes ONLINE on first connect and OFFLINE on disconnect or a lapsed TTL', async () => {
    const log = pino({ level: 'silent' });
    const bus = new MemoryBus(log);
    let now = 1_000;
    const tracker = new SessionTracker({ store: new MemorySessionStore(), bus, log, ttlMs: 10_000, maxConnectionsPerUser: 5, sweepIntervalMs: 1_000, now: () => now });
    const events: UserPresence[] = [];
    bus.subscribe(PRESENCE_TOPIC, (r) => void events.push(decodePresence(r.payload)));

    await tracker.register({ userId: 'u', deviceId: 'd1', sessionId: 's1', serverId: 'x', serverAddress: '' });
    await tracker.register({ userId: 'v', deviceId: 'd1', sessionId: 's2', serverId: 'x', serverAddress: '' });
    now = 2_000;
    assert.deepEqual(await tracker.unregister('s1'), { becameOffline: true });
    now = 9_000;
    await tracker.heartbeat(['s2']);
    now = 18_999;
    await tracker.sweep();
    now = 19_000;
    await tracker.sweep();
    await waitUntil(() => events.length === 4);
    assert.deepEqual(
      events.map((e) => [e.userId, e.status, e.lastSeen?.getTime()]),
      [
        ['u', PresenceStatus.PRESENCE_STATUS_ONLINE, 1_000],
        ['v', PresenceStatus.PRESENCE_STATUS_ONLINE, 1_000],
        ['u', PresenceStatus.PRESENCE_STATUS_OFFLINE, 2_000],
        ['v', PresenceStatus.PRESENCE_STATUS_OFFLINE, 19_000],
      ],
    );
  });
});
