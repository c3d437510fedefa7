import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { MemorySessionStore } from '../session/session-store-memory';
import { SessionTracker } from '../session/session-tracker';
import { PresenceWatches } from './presence-watches';

const log = pino({ level: 'silent' });
const TTL = 60_000;

/** Watches of server `me` at a real tracker on the memory store, on one driven clock. */
function setup(maxPerCall = 500) {
  const clock = { now: 1_000 };
  const store = new MemorySessionStore();
  const tracker = new SessionTracker({
    store,
    send: () => Promise.resolve(),
    log,
    leaseTtlMs: 10_000,
    maxConnectionsPerUser: 10,
    sweepIntervalMs: 1_000,
    presenceWatchTtlMs: TTL,
    locateCacheMs: 0,
    maxPerNotice: 500,
    now: () => clock.now,
  });
  const calls: string[][] = [];
  let failing = false;
  const sessions = {
    addPresenceWatches: (serverId: string, userIds: readonly string[]) => {
      calls.push([...userIds]);
      return failing ? Promise.reject(new Error('session service down')) : tracker.addPresenceWatches(serverId, userIds);
    },
  };
  const watched = new Set<string>();
  const watches = new PresenceWatches({ sessions, serverId: 'me', ttlMs: TTL, maxPerCall, watched: () => watched, log, now: () => clock.now });
  const watching = async (userIds: string[]) => (await store.presenceWatchers(userIds, clock.now)).map((servers) => servers.includes('me'));
  return { clock, calls, watched, watches, watching, fail: (on: boolean) => (failing = on) };
}

describe('PresenceWatches', () => {
  it('registers a user once while its watch is fresh, sharing a registration in flight', async () => {
    const { clock, calls, watches, watching } = setup();
    await Promise.all([watches.add(['a', 'b']), watches.add(['b', 'c'])]);
    assert.deepEqual(calls, [['a', 'b'], ['c']], 'b waited for the first registration');
    assert.deepEqual(await watching(['a', 'b', 'c']), [true, true, true]);
    clock.now += TTL / 3 - 1;
    await watches.add(['a', 'c']);
    assert.equal(calls.length, 2, 'still fresh: not registered again');
    clock.now += 1;
    await watches.add(['a']);
    assert.deepEqual(calls.at(-1), ['a'], 'a third of the TTL later it is');
  });

  it('renews the users still watched, in calls of at most maxPerCall, so their watches never lapse', async () => {
    const { clock, calls, watched, watches, watching } = setup(2);
    for (const u of ['a', 'b', 'c']) watched.add(u);
    await watches.add(['a', 'b', 'c']);
    assert.deepEqual(calls, [['a', 'b'], ['c']]);
    await watches.renew();
    assert.equal(calls.length, 2, 'nothing due yet');
    watched.delete('b');
    clock.now += (2 * TTL) / 3 - 1; // a late tick: the watches still have a third of the TTL
    await watches.renew();
    assert.deepEqual(calls.slice(2), [['a', 'c']], 'b is watched by no connection: not renewed');
    clock.now += TTL - 1;
    assert.deepEqual(await watching(['a', 'b', 'c']), [true, false, true]);
  });

  it('fails a subscription whose registration failed, and registers it at the next try', async () => {
    const { calls, watches, watching, fail } = setup();
    fail(true);
    await assert.rejects(watches.add(['a']), /session service down/);
    fail(false);
    await watches.add(['a']);
    assert.deepEqual(calls, [['a'], ['a']]);
    assert.deepEqual(await watching(['a']), [true]);
  });
});
