import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemberRole } from '../../gen/chat/v1/group';
import { GroupFullError, type GroupRecord, type GroupStore, type MemberRecord } from './group-store';

/** A store under test and how to dispose of it (close, drop the temp file or keyspace). */
export interface GroupStoreHarness {
  store: GroupStore;
  cleanup: () => Promise<void>;
}

const { MEMBER_ROLE_MEMBER: MEMBER, MEMBER_ROLE_ADMIN: ADMIN } = MemberRole;
const EPOCH_MS = 1767225600000;

/** A Snowflake-shaped id: ms since the 2026 epoch << 22 | worker << 12 | sequence. */
function snowflake(ms: number, worker = 0, seq = 0): bigint {
  return (BigInt(ms) << 22n) | (BigInt(worker) << 12n) | BigInt(seq);
}

/** Fresh user and group ids per test, so stores over shared storage (one keyspace) also work. */
function names() {
  const run = randomUUID().slice(0, 8);
  const base = Math.floor(Math.random() * 2 ** 39);
  let seq = 0;
  return {
    user: (n: string) => `${n}-${run}`,
    /** Group ids that grow with `at` (ms), unique within the test. */
    groupId: (at = 0) => snowflake(base + at, 3, seq++ % 4096).toString(),
  };
}

const member = (userId: string, role = MEMBER, joinedMs = 1_000): MemberRecord => ({
  userId,
  role,
  joinedAt: new Date(EPOCH_MS + joinedMs),
});

function group(groupId: string, createdBy: string, name = 'team'): Omit<GroupRecord, 'memberCount'> {
  return { groupId, name, createdBy, createdAt: new Date(EPOCH_MS + 500) };
}

const userIds = (members: readonly MemberRecord[]): string[] => members.map((m) => m.userId);

/**
 * Registers the GroupStore contract (the guarantees in group-store.ts) against stores made by
 * `factory`. Each test makes its own store and cleans it up.
 */
export function groupStoreContract(name: string, factory: () => Promise<GroupStoreHarness>): void {
  const withStore = async (fn: (store: GroupStore) => Promise<void>): Promise<void> => {
    const { store, cleanup } = await factory();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  };

  describe(`GroupStore contract: ${name}`, () => {
    it('creates a group with its members, counted once each', () =>
      withStore(async (store) => {
        const n = names();
        const [ann, bob, cat] = [n.user('ann'), n.user('bob'), n.user('cat')];
        const id = n.groupId();
        const created = await store.create(group(id, ann, 'Ünïcode 🚀'), [
          member(ann, ADMIN), member(cat), member(bob), member(cat),
        ]);
        const expected: GroupRecord = { ...group(id, ann, 'Ünïcode 🚀'), memberCount: 3 };
        assert.deepEqual(created, expected);
        assert.deepEqual(await store.get(id), expected);
        assert.deepEqual(await store.listMembers(id), [member(ann, ADMIN), member(bob), member(cat)]);
        assert.deepEqual(await store.getMember(id, ann), member(ann, ADMIN));
        assert.deepEqual(await store.getMember(id, cat), member(cat, MEMBER));
        for (const u of [ann, bob, cat]) assert.deepEqual(await store.listUserGroups(u), [expected]);
      }));

    it('answers unknown groups and members with nothing', () =>
      withStore(async (store) => {
        const n = names();
        const id = n.groupId();
        assert.equal(await store.get(id), undefined);
        assert.equal(await store.getMember(id, n.user('ann')), undefined);
        assert.deepEqual(await store.listMembers(id), []);
        assert.deepEqual(await store.listUserGroups(n.user('ann')), []);
        await store.create(group(id, n.user('ann')), [member(n.user('ann'), ADMIN)]);
        assert.equal(await store.getMember(id, n.user('bob')), undefined);
      }));

    it('rejects adding to or removing from an unknown group, with a plain error', () =>
      withStore(async (store) => {
        const n = names();
        const id = n.groupId();
        const plain = (err: unknown) => err instanceof Error && !(err instanceof GroupFullError);
        await assert.rejects(store.addMembers(id, [member(n.user('ann'))], 10), plain);
        await assert.rejects(store.removeMembers(id, [n.user('ann')]), plain);
        assert.deepEqual(await store.listUserGroups(n.user('ann')), []);
      }));

    it('adds members idempotently: existing members keep their role and join time', () =>
      withStore(async (store) => {
        const n = names();
        const [ann, bob, cat] = [n.user('ann'), n.user('bob'), n.user('cat')];
        const id = n.groupId();
        await store.create(group(id, ann), [member(ann, ADMIN), member(bob)]);
        const after = await store.addMembers(id, [member(bob, ADMIN, 9_000), member(cat, MEMBER, 2_000), member(cat, MEMBER, 2_000)], 10);
        assert.equal(after.memberCount, 3);
        assert.equal((await store.addMembers(id, [member(cat), member(ann, MEMBER)], 10)).memberCount, 3);
        assert.deepEqual(await store.listMembers(id), [member(ann, ADMIN), member(bob), member(cat, MEMBER, 2_000)]);
        assert.equal((await store.get(id))?.memberCount, 3);
      }));

    it('enforces the size limit exactly, adding nobody when it would be exceeded', () =>
      withStore(async (store) => {
        const n = names();
        const users = Array.from({ length: 7 }, (_, i) => n.user(`u${i}`));
        const id = n.groupId();
        await store.create(group(id, users[0] ?? ''), users.slice(0, 3).map((u) => member(u)));
        // Reaching the limit exactly is fine; an existing member in the batch does not count.
        assert.equal((await store.addMembers(id, [users[0], users[3], users[4]].map((u) => member(u ?? '')), 5)).memberCount, 5);
        await assert.rejects(
          store.addMembers(id, [users[1], users[5]].map((u) => member(u ?? '')), 5),
          (err: unknown) => err instanceof GroupFullError && err.groupId === id && err.maxMembers === 5,
        );
        const tooMany = await store.create(group(n.groupId(1), users[6] ?? ''), []);
        await assert.rejects(store.addMembers(tooMany.groupId, users.map((u) => member(u)), 6), GroupFullError);
        assert.deepEqual(await store.listMembers(tooMany.groupId), []);
        assert.equal((await store.get(tooMany.groupId))?.memberCount, 0);
        // Nobody from a rejected batch was added, anywhere.
        assert.deepEqual(userIds(await store.listMembers(id)), users.slice(0, 5).sort());
        assert.equal((await store.get(id))?.memberCount, 5);
        assert.equal(await store.getMember(id, users[5] ?? ''), undefined);
        assert.deepEqual(await store.listUserGroups(users[5] ?? ''), []);
        // Re-adding members of a full group, even over a since-lowered limit, adds nobody and succeeds.
        assert.equal((await store.addMembers(id, [member(users[1] ?? '')], 5)).memberCount, 5);
        assert.equal((await store.addMembers(id, [member(users[1] ?? '')], 2)).memberCount, 5);
      }));

    it('holds the size limit and the count under concurrent adds', () =>
      withStore(async (store) => {
        const n = names();
        const id = n.groupId();
        const owner = n.user('owner');
        await store.create(group(id, owner), [member(owner, ADMIN)]);
        // Twelve adds of two new users each race for seven free seats: at most three can win.
        const pairs = Array.from({ length: 12 }, (_, i) => [n.user(`a${i}`), n.user(`b${i}`)]);
        const outcomes = await Promise.allSettled(pairs.map((pair) => store.addMembers(id, pair.map((u) => member(u)), 8)));
        const winners = pairs.filter((_, i) => outcomes[i]?.status === 'fulfilled');
        for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof GroupFullError, String(o.reason));
        assert.equal(winners.length, 3);
        assert.equal((await store.get(id))?.memberCount, 7);
        assert.deepEqual(userIds(await store.listMembers(id)), [owner, ...winners.flat()].sort());
        for (const [i, pair] of pairs.entries()) {
          const listed = (await store.listUserGroups(pair[0] ?? '')).map((g) => g.groupId);
          assert.deepEqual(listed, outcomes[i]?.status === 'fulfilled' ? [id] : []);
        }
      }));

    it('removes members idempotently and keeps the count exact', () =>
      withStore(async (store) => {
        const n = names();
        const [ann, bob, cat, dan] = ['ann', 'bob', 'cat', 'dan'].map((u) => n.user(u));
        const id = n.groupId();
        await store.create(group(id, ann), [member(ann, ADMIN), member(bob), member(cat)]);
        assert.equal((await store.removeMembers(id, [bob, dan, bob])).memberCount, 2);
        assert.equal((await store.removeMembers(id, [bob])).memberCount, 2);
        assert.equal(await store.getMember(id, bob), undefined);
        assert.deepEqual(await store.listUserGroups(bob), []);
        assert.deepEqual(userIds(await store.listMembers(id)), [ann, cat]);
        assert.equal((await store.removeMembers(id, [ann, cat])).memberCount, 0);
        assert.deepEqual(await store.get(id), { ...group(id, ann), memberCount: 0 });
        assert.equal((await store.addMembers(id, [member(bob)], 1)).memberCount, 1);
      }));

    it("lists a user's groups newest (largest id) first", () =>
      withStore(async (store) => {
        const n = names();
        const [ann, bob] = [n.user('ann'), n.user('bob')];
        const ids = [5, 1, 9, 3].map((at) => n.groupId(at * 1000));
        for (const id of ids) await store.create(group(id, ann, `g${id}`), [member(ann, ADMIN)]);
        const [first, , third] = ids;
        await store.addMembers(first ?? '', [member(bob)], 10);
        await store.addMembers(third ?? '', [member(bob)], 10);
        const byIdDesc = (xs: string[]) => [...xs].sort((a, b) => (BigInt(b) > BigInt(a) ? 1 : -1));
        assert.deepEqual((await store.listUserGroups(ann)).map((g) => g.groupId), byIdDesc(ids));
        const bobs = await store.listUserGroups(bob);
        assert.deepEqual(bobs.map((g) => g.groupId), byIdDesc([first ?? '', third ?? '']));
        assert.deepEqual(bobs.map((g) => [g.name, g.memberCount]), [[`g${third}`, 2], [`g${first}`, 2]]);
      }));

    it('property: memberCount always equals the members, under any adds and removes', () =>
      withStore(async (store) => {
        const op = fc.record({ add: fc.boolean(), who: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 4 }) });
        await fc.assert(
          fc.asyncProperty(fc.array(op, { maxLength: 15 }), async (ops) => {
            const n = names();
            const id = n.groupId();
            const user = (i: number) => n.user(`m${i}`);
            await store.create(group(id, user(0)), []);
            const model = new Set<string>();
            for (const { add, who } of ops) {
              const users = who.map(user);
              if (!add) {
                users.forEach((u) => model.delete(u));
                assert.equal((await store.removeMembers(id, users)).memberCount, model.size);
              } else if (model.size + users.filter((u) => !model.has(u)).length > 5) {
                await assert.rejects(store.addMembers(id, users.map((u) => member(u)), 5), GroupFullError);
              } else {
                users.forEach((u) => model.add(u));
                assert.equal((await store.addMembers(id, users.map((u) => member(u)), 5)).memberCount, model.size);
              }
              assert.equal((await store.get(id))?.memberCount, model.size);
              assert.deepEqual(userIds(await store.listMembers(id)), [...model].sort());
            }
          }),
          { numRuns: 30 },
        );
      }));
  });
}
