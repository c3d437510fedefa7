import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemberRole } from '../../gen/chat/v1/group';
import { dropKeyspace } from '../cassandra/cassandra-migrations';
import { CassandraSession } from '../cassandra/cassandra-session';
import { cassandraTestOptions } from '../cassandra/testing/cassandra-test-options';
import { uniquePrefix } from '../testing/engines';
import { groupStoreContract } from './group-store.contract';
import { CassandraGroupStore } from './group-store-cassandra';
import { GroupFullError, type MemberRecord } from './group-store';

const { options } = cassandraTestOptions('groups');

let session: CassandraSession;
let shared: CassandraGroupStore;
before(async () => {
  session = new CassandraSession(options());
  shared = await CassandraGroupStore.open({ session });
});
after(async () => {
  await dropKeyspace(session);
  await session.close();
});

groupStoreContract('cassandra', () => Promise.resolve({ store: shared, cleanup: () => shared.close() }));

const EPOCH_MS = 1767225600000;
const run = uniquePrefix('g');
let next = Math.floor(Math.random() * 2 ** 30);
const groupId = () => ((BigInt(next++) << 22n) | 7n).toString();
const member = (userId: string): MemberRecord => ({ userId, role: MemberRole.MEMBER_ROLE_MEMBER, joinedAt: new Date(EPOCH_MS + 9) });
const group = (id: string) => ({ groupId: id, name: 'load', createdBy: `owner-${run}`, createdAt: new Date(EPOCH_MS + 1) });

describe('CassandraGroupStore on a real Cassandra', () => {
  it('holds the size limit exactly when two processes add concurrently', async () => {
    const other = await CassandraGroupStore.open({ session: new CassandraSession(options()), ownsSession: true });
    try {
      const id = groupId();
      await shared.create(group(id), [member(`owner-${run}`)]);
      const limit = 10;
      // 24 single-user adds race for 9 free seats, half through each process.
      const users = Array.from({ length: 24 }, (_, i) => `racer${i}-${run}`);
      const outcomes = await Promise.allSettled(users.map((u, i) => (i % 2 ? other : shared).addMembers(id, [member(u)], limit)));
      const added = users.filter((_, i) => outcomes[i]?.status === 'fulfilled');
      for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof GroupFullError, String(o.reason));
      assert.equal(added.length, limit - 1);
      assert.equal((await shared.get(id))?.memberCount, limit);
      const members = (await shared.listMembers(id)).map((m) => m.userId);
      assert.deepEqual(members, [`owner-${run}`, ...added].sort());
      for (const u of users) {
        const listed = (await shared.listUserGroups(u)).map((g) => g.groupId);
        assert.deepEqual(listed, added.includes(u) ? [id] : [], u);
      }
    } finally {
      await other.close();
    }
  });

  it('keeps the count exact under concurrent adds and removes of the same users', async () => {
    const other = await CassandraGroupStore.open({ session: new CassandraSession(options()), ownsSession: true });
    try {
      const id = groupId();
      await shared.create(group(id), []);
      const users = Array.from({ length: 6 }, (_, i) => `flip${i}-${run}`);
      const ops = Array.from({ length: 30 }, (_, i) => {
        const store = i % 2 ? other : shared;
        const who = [users[i % users.length] ?? '', users[(i * 5 + 1) % users.length] ?? ''];
        return i % 3 === 0 ? store.removeMembers(id, who) : store.addMembers(id, who.map(member), 100);
      });
      await Promise.all(ops);
      const members = await shared.listMembers(id);
      assert.equal((await shared.get(id))?.memberCount, members.length);
      for (const u of users) {
        const isMember = members.some((m) => m.userId === u);
        assert.deepEqual((await shared.listUserGroups(u)).map((g) => g.groupId), isMember ? [id] : [], u);
      }
    } finally {
      await other.close();
    }
  });

  it('creates and fills a group of 1000 in single-partition batches', async () => {
    const id = groupId();
    const users = Array.from({ length: 1000 }, (_, i) => `member-${String(i).padStart(4, '0')}-${run}-${'x'.repeat(20)}`);
    assert.equal((await shared.create(group(id), users.slice(0, 500).map(member))).memberCount, 500);
    assert.equal((await shared.addMembers(id, users.map(member), 1000)).memberCount, 1000);
    assert.equal((await shared.listMembers(id)).length, 1000);
    assert.equal((await shared.removeMembers(id, users.slice(0, 600))).memberCount, 400);
    assert.deepEqual((await shared.listUserGroups(users[999] ?? '')).map((g) => [g.groupId, g.memberCount]), [[id, 400]]);
  });

  it('rejects malformed ids, duplicate groups and unstorable roles, writing nothing', async () => {
    const id = groupId();
    await assert.rejects(shared.get('abc'), RangeError);
    await assert.rejects(shared.get('9223372036854775808'), RangeError);
    const bad = { userId: `bad-${run}`, role: MemberRole.MEMBER_ROLE_UNSPECIFIED, joinedAt: new Date(EPOCH_MS) };
    await assert.rejects(shared.create(group(id), [member(`ok-${run}`), bad]), RangeError);
    assert.equal(await shared.get(id), undefined);
    assert.deepEqual(await shared.listUserGroups(`ok-${run}`), []);
    await shared.create(group(id), [member(`ok-${run}`)]);
    await assert.rejects(shared.create(group(id), []), /already exists/);
    assert.equal((await shared.get(id))?.memberCount, 1);
  });
});
