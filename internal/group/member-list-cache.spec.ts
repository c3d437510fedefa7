import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemberRole } from '../../gen/chat/v1/group';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { groupStoreContract } from './group-store.contract';
import { SqliteGroupStore } from './group-store-sqlite';
import { MemberListCache } from './member-list-cache';

const sqlite = () => new SqliteGroupStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });

// The cache must keep every promise of the port: the same contract as the stores it wraps.
groupStoreContract('sqlite behind MemberListCache', () => {
  const store = new MemberListCache(sqlite(), 2);
  return Promise.resolve({ store, cleanup: () => store.close() });
});

describe('MemberListCache', () => {
  const member = (userId: string) => ({ userId, role: MemberRole.MEMBER_ROLE_MEMBER, joinedAt: new Date(1767225600000) });
  const group = (groupId: string) => ({ groupId, name: 'g', createdBy: 'ann', createdAt: new Date(1767225600000) });

  it('reads a member list once, and again after a change', async () => {
    const inner = sqlite();
    let reads = 0;
    const counting = Object.assign(Object.create(inner) as SqliteGroupStore, {
      listMembers: (id: string) => (reads++, inner.listMembers(id)),
    });
    const cache = new MemberListCache(counting, 10);
    await cache.create(group('100'), [member('ann'), member('bob')]);
    assert.deepEqual((await cache.listMembers('100')).map((m) => m.userId), ['ann', 'bob']);
    await cache.listMembers('100');
    assert.equal(reads, 1);
    await cache.removeMembers('100', ['bob']);
    assert.deepEqual((await cache.listMembers('100')).map((m) => m.userId), ['ann'], 'a removed member is gone at once');
    await cache.addMembers('100', [member('cat')], 500);
    assert.deepEqual((await cache.listMembers('100')).map((m) => m.userId), ['ann', 'cat']);
    assert.equal(reads, 3);
    await cache.close();
  });

  it('does not keep a list read while a change was under way', async () => {
    const inner = sqlite();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let slow = false;
    const delayed = Object.assign(Object.create(inner) as SqliteGroupStore, {
      listMembers: async (id: string) => {
        const list = await inner.listMembers(id);
        if (slow) await gate;
        return list;
      },
    });
    const cache = new MemberListCache(delayed, 10);
    await cache.create(group('200'), [member('ann'), member('bob')]);
    slow = true;
    const stale = cache.listMembers('200'); // reads [ann, bob], then waits
    await new Promise((r) => setImmediate(r));
    await cache.removeMembers('200', ['bob']);
    release();
    assert.deepEqual((await stale).map((m) => m.userId), ['ann', 'bob']);
    slow = false;
    assert.deepEqual((await cache.listMembers('200')).map((m) => m.userId), ['ann'], 'the overlapping read was not cached');
    await cache.close();
  });
});
