import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { messageStoreContract } from './message-store.contract';
import { migrateSchema } from '../sqlite/sqlite-migrations';
import { HISTORY_MIGRATIONS, SqliteMessageStore } from './message-store-sqlite';
import pino from 'pino';

messageStoreContract('sqlite :memory:', () => {
  const store = new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
  return Promise.resolve({ store, cleanup: () => store.close() });
}, { sequencer: true });

messageStoreContract('sqlite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'history-sqlite-'));
  const store = new SqliteMessageStore({
    db: openSqliteDatabase({ path: join(dir, 'nested', 'chat.db'), synchronous: 'full' }),
    ownsDb: true,
  });
  return Promise.resolve({
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}, { sequencer: true });

messageStoreContract('sqlite file, writer thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'history-sqlite-thread-'));
  const store = new SqliteMessageStore({
    db: openSqliteDatabase({ path: join(dir, 'chat.db'), synchronous: 'full' }),
    ownsDb: true,
    writerThread: { maxBatch: 64, maxQueued: 10_000, log: pino({ level: 'silent' }) },
  });
  return Promise.resolve({
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}, { sequencer: true });

describe('SqliteMessageStore', () => {
  it('group-commits the appends of one turn: each answered on its own, a retried key deduped inside the batch', async () => {
    const store = new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
    const msg = (i: number, clientMsgId = `c${i}`) => ({ messageId: String(5_000_000 + i), conversationId: 'dm:gc1:gc2', senderId: 'gc1', clientMsgId, text: `t${i}`, createdAt: new Date(), seq: '0', epoch: '0' });
    const results = await Promise.all([...Array.from({ length: 40 }, (_, i) => store.append(msg(i), ['gc1', 'gc2'])), store.append(msg(99, 'c3'), ['gc1', 'gc2'])]);
    assert.equal(results.filter((r) => r.created).length, 40);
    assert.equal(results[40].created, false);
    assert.equal(results[40].message.messageId, '5000003', 'the retry inside the batch gets the original');
    assert.equal((await store.listMessages({ conversationId: 'dm:gc1:gc2', limit: 100 })).messages.length, 40);
    await store.close();
  });

  it('fails only the append that fails, when others share its turn', async () => {
    const store = new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
    const msg = (i: number, text: string) => ({ messageId: String(7_000_000 + i), conversationId: 'dm:f1:f2', senderId: 'f1', clientMsgId: `f${i}`, text, createdAt: new Date(), seq: '0', epoch: '0' });
    // A text the NOT NULL column refuses stands for any append that throws inside the transaction.
    const results = await Promise.allSettled([store.append(msg(1, 'one'), ['f1', 'f2']), store.append(msg(2, null as unknown as string), ['f1', 'f2']), store.append(msg(3, 'three'), ['f1', 'f2'])]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual((await store.listMessages({ conversationId: 'dm:f1:f2', limit: 10 })).messages.map((m) => m.text), ['three', 'one']);
    await store.close();
  });

  const msg = (id: bigint, clientMsgId: string) => ({
    messageId: id.toString(),
    conversationId: 'dm:alice:bob',
    senderId: 'alice',
    clientMsgId,
    text: `m${id}`,
    createdAt: new Date(1767225600000 + Number(id >> 22n)),
    seq: '0',
    epoch: '0',
  });
  const hint = (messageId: bigint) => ({ messageId, exact: false });

  it('keeps messages, conversation lists and cursors across reopening the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'history-sqlite-'));
    const path = join(dir, 'chat.db');
    try {
      const first = new SqliteMessageStore({ db: openSqliteDatabase({ path, synchronous: 'full' }), ownsDb: true });
      await first.append(msg(5n << 22n, 'k1'), ['alice', 'bob']);
      await first.saveDeviceCursors('bob', 'phone', new Map([['dm:alice:bob', hint(5n << 22n)]]));
      await first.close();

      const db = openSqliteDatabase({ path, synchronous: 'normal' });
      const again = new SqliteMessageStore({ db, ownsDb: true });
      const numbered = { ...msg(5n << 22n, 'k1'), seq: '1', epoch: String(5n << 22n) };
      assert.deepEqual((await again.listMessages({ conversationId: 'dm:alice:bob', limit: 5 })).messages, [numbered]);
      assert.equal((await again.append(msg(6n << 22n, 'k1'), ['alice', 'bob'])).created, false);
      assert.equal(await again.hasConversation('bob', 'dm:alice:bob'), true);
      assert.deepEqual(await again.loadDeviceCursors('bob', 'phone'), new Map([['dm:alice:bob', hint(5n << 22n)]]));
      assert.deepEqual(db.prepare('SELECT owner, version FROM schema_migrations').all(), [1, 2, 3].map((version) => ({ owner: 'history', version })));
      await again.close();
      assert.equal(db.open, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves a shared connection open on close', async () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
    await new SqliteMessageStore({ db }).close();
    assert.equal(db.open, true);
    db.close();
  });

  it('rejects ids SQLite cannot hold and clamps uint64 cursors beyond them', async () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
    const store = new SqliteMessageStore({ db, ownsDb: true });
    await assert.rejects(store.append(msg(1n << 63n, 'k'), []), RangeError);
    await assert.rejects(store.append({ ...msg(1n, 'k'), messageId: '0' }, []), RangeError);
    await assert.rejects(store.append({ ...msg(1n, 'k'), messageId: '12x' }, []), RangeError);
    await assert.rejects(store.saveDeviceCursors('a', 'd', new Map([['c', hint(1n << 63n)]])), RangeError);
    await store.append(msg(9n << 22n, 'k'), []);
    const max = (1n << 64n) - 1n;
    assert.equal((await store.listMessages({ conversationId: 'dm:alice:bob', beforeId: max, limit: 5 })).messages.length, 1);
    assert.equal((await store.listMessages({ conversationId: 'dm:alice:bob', afterId: max, limit: 5 })).messages.length, 0);
    await store.close();
  });

  it('derives createdAt from the Snowflake when the caller leaves it unset', async () => {
    const store = new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
    const id = (86_400_000n << 22n) | 5n;
    const { message } = await store.append({ ...msg(id, 'k'), createdAt: undefined }, []);
    assert.deepEqual(message.createdAt, new Date('2026-01-02T00:00:00Z'));
    await store.close();
  });

  it('keeps the messages of a version-1 file when it rekeys them (version 2)', async () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
    migrateSchema(db, 'history', HISTORY_MIGRATIONS.slice(0, 1));
    const insert = db.prepare('INSERT INTO messages (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    insert.run('dm:alice:bob', 0, 5n << 22n, 'alice', 'k1', 'hello', 1_767_225_600_005);
    insert.run('dm:alice:bob', 0, 6n << 22n, 'bob', 'k2', 'hi', 1_767_225_600_006);
    const store = new SqliteMessageStore({ db, ownsDb: true });
    const page = await store.listMessages({ conversationId: 'dm:alice:bob', limit: 5 });
    assert.deepEqual(page.messages.map((m) => [m.messageId, m.senderId, m.text, m.createdAt?.getTime()]), [
      [String(6n << 22n), 'bob', 'hi', 1_767_225_600_006],
      [String(5n << 22n), 'alice', 'hello', 1_767_225_600_005],
    ]);
    assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'messages' AND type = 'index'").all(), [], 'no index left beside the key');
    await store.close();
  });

  it('serves message pages from one index range, without a sort', () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
    // Capture the statements the store prepares, to explain its real queries.
    const prepared: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = (sql: string) => (prepared.push(sql), prepare(sql));
    new SqliteMessageStore({ db });
    const pages = prepared.filter((sql) => /FROM messages m WHERE .* ORDER BY m\.message_id/s.test(sql));
    assert.equal(pages.length, 3);
    for (const sql of pages) {
      const params = Array.from(sql.matchAll(/\?/g), () => 1);
      const plan = (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('; ');
      assert.match(plan, /^SEARCH m USING PRIMARY KEY \(conversation_id=\?/, sql);
      assert.doesNotMatch(plan, /TEMP B-TREE|SCAN/, sql);
    }
    db.close();
  });
});
