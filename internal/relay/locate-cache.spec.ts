import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { Connection } from '../../gen/chat/v1/session';
import { MemorySessionStore } from '../session/session-store-memory';
import { SessionTracker } from '../session/session-tracker';
import { waitUntil } from '../testing/wait-until';
import { LocateCache } from './locate-cache';

const log = pino({ level: 'silent' });
const conn = (userId: string, sessionId: string, serverId: string): Connection => ({ userId, deviceId: sessionId, sessionId, serverId, serverAddress: `${serverId}:1` });

/** A cache of chat server `me` whose inbox gets the session service's notices for `me` directly. */
async function setup(ttlMs = 60_000) {
  const told: string[] = [];
  const tracker = new SessionTracker({
    store: new MemorySessionStore(),
    send: (serverId, notice) => {
      told.push(...notice.connectionsChanged.map((u) => `${serverId}:${u}`));
      if (serverId === 'me') notice.connectionsChanged.forEach((u) => cache.invalidate(u));
      return Promise.resolve();
    },
    log,
    leaseTtlMs: 10_000,
    maxConnectionsPerUser: 10,
    sweepIntervalMs: 1_000,
    presenceWatchTtlMs: 60_000,
    locateCacheMs: 60_000,
    maxPerNotice: 500,
  });
  // The chat servers of these tests hold live leases, as running ones do.
  for (const serverId of ['a', 'b']) await tracker.renewServerLease(serverId, 'run-1');
  const asked: (string | undefined)[] = [];
  const counted = { locate: (ids: readonly string[], locator?: string) => (asked.push(locator), tracker.locate(ids, locator)) };
  const cache = new LocateCache(counted, { serverId: 'me', ttlMs, maxUsers: 2 });
  return { tracker, cache, told, asked, lookups: () => asked.length };
}

const servers = (cs: Connection[]) => cs.map((c) => c.serverId).sort();

describe('LocateCache', () => {
  it('answers repeated lookups from the cache', async () => {
    const { tracker, cache, lookups } = await setup();
    await tracker.register(conn('ann', 's1', 'a'));
    assert.deepEqual(servers(await cache.locate(['ann'])), ['a']);
    assert.deepEqual(servers(await cache.locate(['ann'])), ['a']);
    assert.equal(lookups(), 1);
  });

  it('sees a new device as soon as the session service tells this server, the one that located the user', async () => {
    const { tracker, cache, told, asked } = await setup();
    await tracker.register(conn('ben', 's1', 'a'));
    assert.deepEqual(servers(await cache.locate(['ben'])), ['a']);
    assert.deepEqual(asked, ['me'], 'the lookup names this server');
    await tracker.register(conn('ben', 's2', 'b'));
    await waitUntil(async () => servers(await cache.locate(['ben'])).length === 2, 2_000, 'the second device to be located');
    assert.deepEqual(servers(await cache.locate(['ben'])), ['a', 'b']);
    assert.deepEqual(told, ['me:ben']);
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
  });

  it('always asks the session service when disabled', async () => {
    const { tracker, cache, lookups, asked } = await setup(0);
    await tracker.register(conn('fay', 's1', 'a'));
    await cache.locate(['fay']);
    await cache.locate(['fay']);
    assert.equal(lookups(), 2);
    assert.deepEqual(asked, [undefined, undefined], 'nothing cached: the session service need not remember this server');
  });
});
