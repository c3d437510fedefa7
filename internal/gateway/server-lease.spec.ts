import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { MemorySessionStore } from '../session/session-store-memory';
import { ServerLease, type Registrant } from './server-lease';

const log = pino({ level: 'silent' });

describe('ServerLease', () => {
  it('registers every connection again when a renewal finds the lease lapsed, retrying the ones that could not', async () => {
    const store = new MemorySessionStore();
    let now = 1_000;
    let renewals = 0;
    const sessions = { renewServerLease: async (serverId: string, token: string) => (renewals++, { ...(await store.renewServer(serverId, token, now, 3_000)), ttlMs: 3_000 }) };
    const registered: string[] = [];
    let unavailable = true;
    const registrants: Registrant[] = [
      { reregister: () => (registered.push('a'), Promise.resolve(true)) },
      { reregister: () => (registered.push('b'), Promise.resolve(!unavailable)) },
    ];
    const lease = new ServerLease({ serverId: 'chat-1', sessions, registrants: () => registrants, log });
    try {
      await lease.start();
      assert.deepEqual(registered, ['a', 'b'], 'a first lease is a new one: whatever is connected registers');
      await lease.renew();
      assert.deepEqual(registered, ['a', 'b', 'a', 'b'], 'work pending: the next renewal registers again (registration is idempotent)');
      unavailable = false;
      now += 1_000;
      await lease.renew();
      assert.equal(registered.length, 6);
      now += 1_000;
      await lease.renew();
      assert.equal(registered.length, 6, 'a live lease with nothing pending registers nothing');
      now += 10_000;
      await lease.renew();
      assert.equal(registered.length, 6, 'renewed late, before any sweep: the same lease, nothing to register');
      now += 10_000;
      await store.expire(now);
      await lease.renew();
      assert.equal(registered.length, 8, 'after a stall past the TTL and a sweep, everything registers again');
      assert.equal(renewals, 6);
    } finally {
      lease.stop();
    }
  });

  it('registers everything again when a renewal names another epoch, even not lapsed (a late renewal started one)', async () => {
    const grants = [
      { lapsed: true, ttlMs: 3_000, epoch: 1 },
      { lapsed: false, ttlMs: 3_000, epoch: 1 },
      { lapsed: false, ttlMs: 3_000, epoch: 2 },
    ];
    const sessions = { renewServerLease: () => Promise.resolve(grants.shift()!) };
    let registered = 0;
    const lease = new ServerLease({ serverId: 'chat-1', sessions, registrants: () => [{ reregister: () => (registered++, Promise.resolve(true)) }], log });
    try {
      await lease.start();
      assert.equal(registered, 1);
      await lease.renew();
      assert.equal(registered, 1, 'same epoch: nothing to do');
      await lease.renew();
      assert.equal(registered, 2, 'another epoch: registered again');
    } finally {
      lease.stop();
    }
  });

  it('keeps renewing after a failed renewal', async () => {
    let calls = 0;
    const sessions = { renewServerLease: () => (++calls === 1 ? Promise.reject(new Error('session service down')) : Promise.resolve({ lapsed: false, ttlMs: 90, epoch: 1 })) };
    const lease = new ServerLease({ serverId: 'chat-1', sessions, registrants: () => [], log, retryMs: 10 });
    try {
      await lease.start();
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(calls >= 3, `${calls} calls: retried, then every third of the TTL`);
    } finally {
      lease.stop();
    }
  });
});
