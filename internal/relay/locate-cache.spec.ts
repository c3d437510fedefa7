import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { Connection } from '../../gen/chat/v1/session';
import { MemoryBus } from '../bus/bus-memory';
import { MemorySessionStore } from '../session/session-store-memory';
import { SessionTracker } from '../session/session-tracker';
import { waitUntil } from '../testing/wait-until';
import { LocateCache } from './locate-cache';

const log = pino({ level: 'silent' });
const conn = (userId: string, sessionId: string, serverId: string): Connection => ({ userId, deviceId: sessionId, sessionId, serverId, serverAddress: `${serverId}:1` });

async function setup(ttlMs = 60_000) {
  const bus = new MemoryBus(log);
  const tracker = new SessionTracker({ store: new MemorySessionStore(), bus, log, ttlMs: 10_000, maxConnectionsPerUser: 10, sweepIntervalMs: 1_000 });
  let lookups = 0;
  const counted = { locate: (ids: readonly string[]) => (lookups++, tracker.locate(ids)) };
  const cache = new LocateCache(counted, { ttlMs, maxUsers: 2 });
  await cache.start(bus);
  return { tracker, cache, lookups: () => lookups };
}

const servers = (cs: Connection[]) => cs.map((c) => c.serverId).sort();

describe('LocateCache', () => {
  it('answers repeated lookups from the cache', async () => {
    const { tracker, cache, lookups } = await setup();
    await tracker.register(conn('ann', 's1', 'a'));
    assert.deepEqual(servers(await cache.locate(['ann'])), ['a']);
    assert.deepEqual(servers(await cache.locate(['ann'])), ['a']);
    assert.equal(lookups(), 1);
    await cache.stop();
  });

  it('sees a new device as soon as the session service reports it', async () => {
    const { tracker, cache } = await setup();
    await tracker.register(conn('ben', 's1', 'a'));
    assert.deepEqual(servers(await cache.locate(['ben'])), ['a']);
    await tracker.register(conn('ben', 's2', 'b'));
    await waitUntil(async () => servers(await cache.locate(['ben'])).length === 2, 2_000, 'the second device to be located');
    assert.deepEqual(servers(await cache.locate(['ben'])), ['a', 'b']);
    await cache.stop();
  });

  it('does not cache a lookup that raced with a change, and evicts the oldest users beyond its size', async () => {
    const { tracker, cache, lookups } = await setup();
    await tracker.register(conn('cid', 's1', 'a'));
    const pending = cache.locate(['cid']);
    cache.invalidate('cid'); // a change arrives while the lookup is in flight
    await pending;
    await cache.locate(['cid']);
    assert.equal(lookups(), 2, 'the raced answer was not kept');
    await cache.locate(['dee']);
    await cache.locate(['eve']); // maxUsers 2: cid is evicted
    await cache.locate(['cid']);
    assert.equal(lookups(), 5);
    await cache.stop();
  });

  it('always asks the session service when disabled', async () => {
    const { tracker, cache, lookups } = await setup(0);
    await tracker.register(conn('fay', 's1', 'a'));
    await cache.locate(['fay']);
    await cache.locate(['fay']);
    assert.equal(lookups(), 2);
    await cache.stop();
  });
});
