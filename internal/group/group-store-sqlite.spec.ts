import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemberRole } from '../../gen/chat/v1/group';
import { SqliteMessageStore } from '../history/message-store-sqlite';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { groupStoreContract } from './group-store.contract';
import { SqliteGroupStore } from './group-store-sqlite';

groupStoreContract('sqlite :memory:', () => {
  const store = new SqliteGroupStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
  return Promise.resolve({ store, cleanup: () => store.close() });
});

groupStoreContract('sqlite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'groups-sqlite-'));
  const store = new SqliteGroupStore({ db: openSqliteDatabase({ path: join(dir, 'chat.db'), synchronous: 'full' }), ownsDb: true });
  return Promise.resolve({
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
});

describe('SqliteGroupStore', () => {
  const at = (ms: number) => new Date(1767225600000 + ms);
  const admin = { userId: 'ann', role: MemberRole.MEMBER_ROLE_ADMIN, joinedAt: at(2) };

  it('keeps groups across reopening a file it shares with the message store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'groups-sqlite-'));
    const path = join(dir, 'chat.db');
    try {
      const db = openSqliteDatabase({ path, synchronous: 'full' });
      const groups = new SqliteGroupStore({ db });
      new SqliteMessageStore({ db });
      await groups.create({ groupId: '4194304', name: 'ops', createdBy: 'ann', createdAt: at(1) }, [admin]);
      await groups.close();
      assert.equal(db.open, true, 'a shared connection stays open');
      db.close();

      const reopened = new SqliteGroupStore({ db: openSqliteDatabase({ path, synchronous: 'normal' }), ownsDb: true });
      assert.deepEqual(await reopened.get('4194304'), { groupId: '4194304', name: 'ops', createdBy: 'ann', createdAt: at(1), memberCount: 1 });
      assert.deepEqual(await reopened.listMembers('4194304'), [admin]);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects malformed ids, duplicate groups and unstorable roles, writing nothing', async () => {
    const store = new SqliteGroupStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
    const g = { groupId: '42', name: 'x', createdBy: 'ann', createdAt: at(0) };
    await assert.rejects(store.get('abc'), RangeError);
    await assert.rejects(store.get('9223372036854775808'), RangeError);
    await assert.rejects(store.create(g, [admin, { ...admin, userId: 'bob', role: MemberRole.MEMBER_ROLE_UNSPECIFIED }]), RangeError);
    assert.equal(await store.get('42'), undefined);
    assert.deepEqual(await store.listUserGroups('ann'), []);
    await store.create(g, [admin]);
    await assert.rejects(store.create(g, []), /already exists/);
    assert.equal((await store.get('42'))?.memberCount, 1);
    await store.close();
  });
});
