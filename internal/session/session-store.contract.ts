import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../gen/chat/v1/session';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import type { SessionStore } from './session-store';

/** The SessionStore guarantees, run against every adapter (memory here, Redis in the engines suite). */
export function sessionStoreContract(name: string, factory: () => Promise<SessionStore>): void {
  describe(`SessionStore contract: ${name}`, () => {
    let store: SessionStore | undefined;
    afterEach(async () => store?.close());
    const uniq = Math.random().toString(36).slice(2);
    let n = 0;
    const conn = (userId: string, serverId = 'srv-1'): Connection => ({ userId: `${userId}-${uniq}`, deviceId: 'd', sessionId: `${serverId}.s${++n}-${uniq}`, serverId, serverAddress: '127.0.0.1:7111' });
    const T = 1_000_000;
    const TTL = 10_000;
    /** Server ids unique to this run (the Redis store keeps them across tests of one prefix). */
    const srv = (name: string) => `${name}-${uniq}`;

    it('reports online once and offline once, on the last disconnect', async () => {
      store = await factory();
      await store.renewServer(srv('a'), 'i1', T, TTL);
      const a1 = conn('a', srv('a'));
      const a2 = { ...conn('a', srv('a')), userId: a1.userId };
      assert.deepEqual(await store.register(a1, T, 10), { becameOnline: true });
      assert.deepEqual(await store.register(a1, T + 1, 10), { becameOnline: false }, 'idempotent by session id');
      assert.deepEqual(await store.register(a2, T + 2, 10), { becameOnline: false });
      assert.equal((await store.unregister(a1.sessionId, T + 3)).offline, undefined);
      assert.deepEqual((await store.unregister(a2.sessionId, T + 4)).offline, { userId: a1.userId, lastSeenMs: T + 4 });
      assert.deepEqual(await store.unregister(a2.sessionId, T + 5), {}, 'unregister is idempotent');
      const [p] = await store.presence([a1.userId], T + 6);
      assert.equal(p?.online, false);
      assert.equal(p?.lastSeenMs, T + 4);
    });

    it('keeps connections live by renewing the server lease only, and drops them exactly once when it lapses', async () => {
      store = await factory();
      const s = srv('b');
      assert.equal((await store.renewServer(s, 'i1', T, TTL)).lapsed, true, 'a first renewal takes a new lease');
      const b = conn('b', s);
      await store.register(b, T, 10);
      for (let t = T + 3_000; t <= T + 30_000; t += 3_000) assert.equal((await store.renewServer(s, 'i1', t, TTL)).lapsed, false);
      assert.deepEqual(await store.locate([b.userId], T + 39_999), [b], 'live while the lease is');
      assert.deepEqual(await store.locate([b.userId], T + 40_000), [], 'reads hide the connections of a lapsed lease before the sweep');
      assert.deepEqual((await store.presence([b.userId], T + 40_000))[0]?.online, false);
      assert.deepEqual(await store.expire(T + 40_001), [{ userId: b.userId, lastSeenMs: T + 40_000 }], 'offline at the end of the lease');
      assert.deepEqual(await store.expire(T + 41_000), []);
      assert.equal((await store.renewServer(s, 'i1', T + 41_000, TTL)).lapsed, true, 'a swept lease is never renewed');
      assert.deepEqual(await store.locate([b.userId], T + 41_000), [], 'never resurrects');
      assert.deepEqual(await store.unregister(b.sessionId, T + 41_000), {});
      assert.deepEqual(await store.register(b, T + 42_000, 10), { becameOnline: true }, 'registered again under the new lease');
      assert.deepEqual(await store.locate([b.userId], T + 42_000), [b]);
    });

    it('keeps a lease its instance renews late, until a sweep took it', async () => {
      store = await factory();
      const s = srv('late');
      await store.renewServer(s, 'i1', T, TTL);
      const l = conn('l', s);
      await store.register(l, T, 10);
      assert.deepEqual(await store.locate([l.userId], T + TTL), [], 'lapsed: reads hide it');
      assert.equal((await store.renewServer(s, 'i1', T + TTL + 500, TTL)).lapsed, false, 'renewed late (the store was unreachable), before any sweep');
      assert.deepEqual(await store.locate([l.userId], T + TTL + 500), [l], 'its connections are live again, nothing to register');
      assert.deepEqual(await store.expire(T + TTL + 600), []);
      const { epoch } = await store.renewServer(s, 'i1', T, TTL);
      assert.equal(epoch, (await store.renewServer(s, 'i1', T + TTL + 600, TTL)).epoch, 'the same lease all along');
      assert.deepEqual(await store.locate([l.userId], T + 2 * TTL + 499), [l], 'a renewal applied late (older clock) never shortened it');
    });

    it('refuses registrations under a server without a live lease', async () => {
      store = await factory();
      await assert.rejects(store.register(conn('h', srv('never')), T, 10), (err: Error) => err instanceof ChatError && err.code === ErrorCode.ERROR_CODE_UNAVAILABLE);
      const s = srv('h');
      await store.renewServer(s, 'i1', T, TTL);
      await assert.rejects(store.register(conn('h', s), T + TTL, 10), /no live lease/);
    });

    it('takes a restart under the same server id for a new lease: the previous run\'s connections die', async () => {
      store = await factory();
      const s = srv('r');
      await store.renewServer(s, 'run-1', T, TTL);
      const r1 = conn('r', s);
      const q = conn('q', s);
      await store.register(r1, T, 10);
      await store.register(q, T, 10);
      assert.equal((await store.renewServer(s, 'run-2', T + 1_000, TTL)).lapsed, true);
      assert.deepEqual(await store.locate([r1.userId, q.userId], T + 1_000), []);
      const r2 = { ...conn('r', s), userId: r1.userId };
      assert.deepEqual(await store.register(r2, T + 2_000, 10), { becameOnline: true, lapsed: { userId: r1.userId, lastSeenMs: T + 1_000 } }, 'offline since the restart');
      const swept = await store.expire(T + 3_000);
      assert.deepEqual(swept, [{ userId: q.userId, lastSeenMs: T + 1_000 }], 'the sweep reports the rest once, at the restart');
      assert.deepEqual(await store.expire(T + 4_000), []);
      assert.deepEqual(await store.locate([r1.userId], T + 4_000), [r2]);
    });

    it('reports a dead, unswept connection as offline when the user connects again', async () => {
      store = await factory();
      const [s1, s2] = [srv('f1'), srv('f2')];
      await store.renewServer(s1, 'i1', T, TTL);
      const f1 = conn('f', s1);
      await store.register(f1, T, 10);
      await store.renewServer(s2, 'i1', T + 11_000, TTL);
      const f2 = { ...conn('f', s2), userId: f1.userId };
      assert.deepEqual(await store.register(f2, T + 12_000, 10), { becameOnline: true, lapsed: { userId: f1.userId, lastSeenMs: T + 10_000 } });
      assert.deepEqual(await store.expire(T + 13_000), [], 'the sweep does not report it again');
      assert.deepEqual(await store.register(f2, T + 13_000, 10), { becameOnline: false });
    });

    it('enforces connections per user; dead ones do not count', async () => {
      store = await factory();
      const [s1, s2] = [srv('c1'), srv('c2')];
      await store.renewServer(s1, 'i1', T, TTL);
      const c1 = conn('c', s1);
      const c2 = { ...conn('c', s1), userId: c1.userId };
      await store.register(c1, T, 1);
      await assert.rejects(store.register(c2, T, 1), (err: Error) => err instanceof ChatError && err.code === ErrorCode.ERROR_CODE_LIMIT_EXCEEDED);
      await store.unregister(c1.sessionId, T);
      await store.register(c2, T, 1);
      await store.renewServer(s2, 'i1', T + 20_000, TTL);
      const c3 = { ...conn('c', s2), userId: c1.userId };
      assert.deepEqual(await store.register(c3, T + 20_000, 1), { becameOnline: true, lapsed: { userId: c1.userId, lastSeenMs: T + 10_000 } }, 'a dead connection does not count against the limit');
    });

    it('reports a connection once whichever of unregister and the sweep removes it', async () => {
      store = await factory();
      const s = srv('g');
      await store.renewServer(s, 'i1', T, TTL);
      const g1 = conn('g', s);
      await store.register(g1, T, 1);
      assert.deepEqual(await store.unregister(g1.sessionId, T + 20_000), { offline: { userId: g1.userId, lastSeenMs: T + 10_000 } }, 'dated at the end of its lease');
      assert.deepEqual(await store.expire(T + 30_000), [], 'already reported by unregister');
      await store.renewServer(s, 'i1', T + 30_000, TTL);
      const g2 = { ...conn('g', s), userId: g1.userId };
      assert.deepEqual(await store.register(g2, T + 30_000, 1), { becameOnline: true });
      assert.deepEqual(await store.presence([g1.userId], T + 36_000), [{ userId: g1.userId, online: true, lastSeenMs: T + 30_000 }]);
    });

    it('locates every live device of many users', async () => {
      store = await factory();
      const [s1, s2] = [srv('d1'), srv('d2')];
      await store.renewServer(s1, 'i1', T, TTL);
      await store.renewServer(s2, 'i1', T, TTL);
      const d = conn('d', s1);
      const e1 = conn('e', s1);
      const e2 = { ...conn('e', s2), userId: e1.userId };
      for (const c of [d, e1, e2]) await store.register(c, T, 10);
      const found = await store.locate([d.userId, e1.userId, `nobody-${uniq}`], T + 1);
      assert.deepEqual(found.map((c) => c.sessionId).sort(), [d.sessionId, e1.sessionId, e2.sessionId].sort());
    });

    it('names the servers watching each user until their watch lapses; a renewal never shortens it', async () => {
      store = await factory();
      const [w, x, y] = [`w-${uniq}`, `x-${uniq}`, `y-${uniq}`];
      await store.addPresenceWatches('srv-1', [w, x], T, 60_000);
      await store.addPresenceWatches('srv-2', [w], T + 1_000, 60_000);
      const sorted = (lists: string[][]) => lists.map((l) => [...l].sort());
      assert.deepEqual(sorted(await store.presenceWatchers([w, x, y], T + 2_000)), [['srv-1', 'srv-2'], ['srv-1'], []]);
      assert.deepEqual(await store.locators([w], T + 2_000), [[]], 'watching is not locating');
      await store.addPresenceWatches('srv-1', [w], T + 2_000, 1_000);
      assert.deepEqual(sorted(await store.presenceWatchers([w], T + 59_999)), [['srv-1', 'srv-2']], 'the shorter renewal kept the later expiry');
      assert.deepEqual(await store.presenceWatchers([w, x], T + 60_000), [['srv-2'], []], 'lapsed at its expiry');
      await store.addPresenceWatches('srv-1', [x], T + 60_000, 60_000);
      assert.deepEqual(await store.presenceWatchers([w, x], T + 61_000), [[], ['srv-1']], 'a lapsed watch can be added again');
      assert.deepEqual(await store.presenceWatchers([], T), []);
      await store.addPresenceWatches('srv-1', [], T, 60_000);
    });

    it('names the servers that located each user until the entry lapses, apart from watchers', async () => {
      store = await factory();
      const [l, m] = [`l-${uniq}`, `m-${uniq}`];
      await store.noteLocated('srv-1', [l, m], T, 10_000);
      await store.noteLocated('srv-2', [l], T + 5_000, 10_000);
      await store.noteLocated('srv-1', [l], T + 6_000, 10_000);
      assert.deepEqual(await store.presenceWatchers([l], T + 7_000), [[]], 'locating is not watching');
      assert.deepEqual((await store.locators([l, m], T + 9_999)).map((s) => [...s].sort()), [['srv-1', 'srv-2'], ['srv-1']]);
      assert.deepEqual((await store.locators([l, m], T + 10_000)).map((s) => [...s].sort()), [['srv-1', 'srv-2'], []]);
      assert.deepEqual(await store.locators([l], T + 15_000), [['srv-1']]);
      assert.deepEqual(await store.locators([l], T + 16_000), [[]]);
      assert.deepEqual(await store.expire(T + 16_000), [], 'lapsed entries are no presence transitions');
    });
  });
}
