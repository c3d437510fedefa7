import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../gen/chat/v1/session';
import type { SessionStore } from './session-store';

/** The SessionStore guarantees, run against every adapter (memory here, Redis in the engines suite). */
export function sessionStoreContract(name: string, factory: () => Promise<SessionStore>): void {
  describe(`SessionStore contract: ${name}`, () => {
    let store: SessionStore | undefined;
    afterEach(async () => store?.close());
    const uniq = Math.random().toString(36).slice(2);
    let n = 0;
    const conn = (userId: string): Connection => ({ userId: `${userId}-${uniq}`, deviceId: 'd', sessionId: `s${++n}-${uniq}`, serverId: 'srv-1', serverAddress: '127.0.0.1:7111' });
    const T = 1_000_000;

    it('reports online once and offline once, on the last disconnect', async () => {
      store = await factory();
      const a1 = conn('a');
      const a2 = { ...conn('a'), userId: a1.userId };
      assert.deepEqual(await store.register(a1, T, 10_000, 10), { becameOnline: true });
      assert.deepEqual(await store.register(a1, T + 1, 10_000, 10), { becameOnline: false }, 'idempotent by session id');
      assert.deepEqual(await store.register(a2, T + 2, 10_000, 10), { becameOnline: false });
      assert.equal((await store.unregister(a1.sessionId, T + 3)).offline, undefined);
      assert.deepEqual((await store.unregister(a2.sessionId, T + 4)).offline, { userId: a1.userId, lastSeenMs: T + 4 });
      assert.deepEqual(await store.unregister(a2.sessionId, T + 5), {}, 'unregister is idempotent');
      const [p] = await store.presence([a1.userId], T + 6);
      assert.equal(p?.online, false);
      assert.equal(p?.lastSeenMs, T + 4);
    });

    it('expires lapsed connections exactly once, and refresh never resurrects', async () => {
      store = await factory();
      const b = conn('b');
      await store.register(b, T, 10_000, 10);
      assert.deepEqual(await store.refresh([b.sessionId], T + 5_000, 10_000), { unknown: [] });
      assert.deepEqual(await store.locate([b.userId], T + 14_000), [b]);
      assert.deepEqual(await store.locate([b.userId], T + 15_000), [], 'reads hide lapsed connections before the sweep');
      assert.deepEqual(await store.expire(T + 15_001), [{ userId: b.userId, lastSeenMs: T + 15_000 }]);
      assert.deepEqual(await store.expire(T + 16_000), []);
      assert.deepEqual(await store.refresh([b.sessionId], T + 16_000, 10_000), { unknown: [b.sessionId] });
      assert.deepEqual(await store.unregister(b.sessionId, T + 16_000), {});
    });

    it('reports a lapsed, unswept connection as offline when the user connects again', async () => {
      store = await factory();
      const f1 = conn('f');
      const f2 = { ...conn('f'), userId: f1.userId };
      await store.register(f1, T, 10_000, 10);
      assert.deepEqual(await store.register(f2, T + 12_000, 10_000, 10), { becameOnline: true, lapsed: { userId: f1.userId, lastSeenMs: T + 10_000 } });
      assert.deepEqual(await store.expire(T + 13_000), [], 'the sweep does not report it again');
      assert.deepEqual(await store.register(f2, T + 13_000, 10_000, 10), { becameOnline: false });
    });

    it('enforces connections per user', async () => {
      store = await factory();
      const c1 = conn('c');
      const c2 = { ...conn('c'), userId: c1.userId };
      await store.register(c1, T, 10_000, 1);
      await assert.rejects(store.register(c2, T, 10_000, 1), /live connections/);
      await store.unregister(c1.sessionId, T);
      await store.register(c2, T, 10_000, 1);
    });

    it('reports a connection once whichever of unregister and the sweep removes it; only live ones count', async () => {
      store = await factory();
      const g1 = conn('g');
      const g2 = { ...conn('g'), userId: g1.userId };
      const g3 = { ...conn('g'), userId: g1.userId };
      await store.register(g1, T, 10_000, 1);
      assert.deepEqual(await store.unregister(g1.sessionId, T + 20_000), { offline: { userId: g1.userId, lastSeenMs: T + 10_000 } });
      assert.deepEqual(await store.expire(T + 30_000), [], 'already reported by unregister');
      assert.deepEqual(await store.register(g2, T + 30_000, 10_000, 1), { becameOnline: true });
      await store.refresh([g2.sessionId], T + 35_000, 10_000);
      assert.deepEqual(await store.presence([g1.userId], T + 36_000), [{ userId: g1.userId, online: true, lastSeenMs: T + 35_000 }]);
      assert.deepEqual(
        await store.register(g3, T + 46_000, 10_000, 1),
        { becameOnline: true, lapsed: { userId: g1.userId, lastSeenMs: T + 45_000 } },
        'a lapsed connection does not count against the limit',
      );
    });

    it('locates every live device of many users', async () => {
      store = await factory();
      const d = conn('d');
      const e1 = conn('e');
      const e2 = { ...conn('e'), userId: e1.userId, serverId: 'srv-2' };
      for (const c of [d, e1, e2]) await store.register(c, T, 10_000, 10);
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
