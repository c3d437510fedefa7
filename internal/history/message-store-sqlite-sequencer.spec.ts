import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { IdBehind } from '../snowflake/id-behind';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { migrateSchema } from '../sqlite/sqlite-migrations';
import { HISTORY_MIGRATIONS, SqliteMessageStore } from './message-store-sqlite';

/** A send as chatd's send path makes it: unnumbered, with an id from ms `k`. */
const send = (conversationId: string, k: number, extra: Partial<ChatMessage> = {}): ChatMessage => ({
  messageId: String(BigInt(k) << 22n),
  conversationId,
  senderId: 'ann',
  clientMsgId: `k${k}`,
  text: `t${k}`,
  createdAt: new Date(1_767_225_600_000 + k),
  seq: '0',
  epoch: '0',
  ...extra,
});
const id = (k: number) => String(BigInt(k) << 22n);

/** A fresh database file; `run` gets a function opening a store on it (inline, or with a writer thread). */
async function withFile(run: (open: (opts?: { thread?: boolean; maxBatch?: number }) => SqliteMessageStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'history-sequencer-'));
  try {
    await run(
      ({ thread = false, maxBatch = 64 } = {}) =>
        new SqliteMessageStore({
          db: openSqliteDatabase({ path: join(dir, 'chat.db'), synchronous: 'full' }),
          ownsDb: true,
          writerThread: thread ? { maxBatch, maxQueued: 10_000, log: pino({ level: 'silent' }) } : undefined,
        }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SqliteMessageStore as the sequencer of chatd', () => {
  it('keeps numbering across closing and reopening the file, on either write path', async () => {
    await withFile(async (open) => {
      const positions = async (store: SqliteMessageStore, ks: number[]) => {
        const out: string[][] = [];
        for (const k of ks) {
          const { message } = await store.append(send('g:1', k), ['ann']);
          out.push([message.seq, message.epoch]);
        }
        await store.close();
        return out;
      };
      assert.deepEqual(await positions(open(), [10, 11, 12]), [['1', id(10)], ['2', id(10)], ['3', id(10)]]);
      assert.deepEqual(await positions(open({ thread: true }), [13, 14]), [['4', id(10)], ['5', id(10)]]);
      assert.deepEqual(await positions(open(), [15]), [['6', id(10)]]);
      const store = open();
      const page = await store.listMessages({ conversationId: 'g:1', afterId: 0n, limit: 10 });
      assert.deepEqual(page.messages.map((m) => m.seq), ['1', '2', '3', '4', '5', '6']);
      await store.close();
    });
  });

  for (const thread of [false, true]) {
    it(`numbers the appends of one commit in the order they were made, with no hole for a failing or duplicate one (${thread ? 'writer thread' : 'inline'})`, async () => {
      await withFile(async (open) => {
        // Batches of 4 on the thread: the 30 appends span several commits, and the failing one
        // makes its commit run again write by write.
        const store = open({ thread, maxBatch: 4 });
        try {
          const sends = Array.from({ length: 30 }, (_, i) => {
            const conv = i % 3 === 0 ? 'g:y' : 'g:x';
            if (i === 7) return send(conv, 100 + i, { text: null as unknown as string }); // refused by NOT NULL
            if (i === 12) return send(conv, 100 + i, { clientMsgId: 'k103' }); // a retry of i = 3 (g:y)
            return send(conv, 100 + i);
          });
          const settled = await Promise.allSettled(sends.map((m) => store.append(m, ['ann', 'bob'])));
          assert.equal(settled[7].status, 'rejected');
          const results = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
          assert.deepEqual([results[12]?.created, results[12]?.message.messageId, results[12]?.message.seq], [false, id(103), '2']);
          for (const conv of ['g:x', 'g:y']) {
            const created = results.filter((r) => r?.created && r.message.conversationId === conv).map((r) => r!.message);
            assert.deepEqual(created.map((m) => m.seq), created.map((_, i) => String(i + 1)), `${conv}: dense, in call order`);
            const first = created[0].messageId;
            assert.ok(created.every((m) => m.epoch === first));
            const page = await store.listMessages({ conversationId: conv, afterId: 0n, limit: 50 });
            assert.deepEqual(page.messages.map((m) => [m.messageId, m.seq]), created.map((m) => [m.messageId, m.seq]), `${conv}: stored as answered, seq in id order`);
          }
        } finally {
          await store.close();
        }
      });
    });
  }

  it('refuses with IdBehind, storing nothing, an append to number whose id is not above every id of its conversation', async () => {
    const store = new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
    const at = async (m: ChatMessage) => {
      const r = await store.append(m, ['ann']);
      return [r.created, r.message.seq, r.message.epoch];
    };
    const behind = (newest: number) => (err: unknown) => err instanceof IdBehind && err.newestId === BigInt(id(newest));
    assert.deepEqual(await at(send('g:2', 100)), [true, '1', id(100)]);
    await assert.rejects(store.append(send('g:2', 50), ['ann']), behind(100), 'an older id would put seq and id order at odds');
    assert.deepEqual(await at(send('g:2', 100, { clientMsgId: 'another key' })), [false, '1', id(100)], 'a known id is a duplicate, not behind');
    await store.appendBatch([{ message: send('g:2', 200, { seq: '9', epoch: id(1) }), participantIds: ['ann'] }]);
    await assert.rejects(store.append(send('g:2', 150), ['ann']), behind(200));
    // Refused in a commit with others, it costs them nothing and uses no number.
    const turn = await Promise.allSettled([store.append(send('g:2', 201), ['ann']), store.append(send('g:2', 199), ['ann']), store.append(send('g:2', 202), ['ann'])]);
    assert.deepEqual(turn.map((r) => (r.status === 'fulfilled' ? r.value.message.seq : 'behind')), ['2', 'behind', '3']);
    assert.deepEqual((await store.listMessages({ conversationId: 'g:2', afterId: 0n, limit: 10 })).messages.map((m) => m.seq), ['1', '9', '2', '3']);
    await store.close();
  });

  it('reads the rows of a version-2 file as unnumbered, its cursors as hints, and numbers from its next message', async () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
    migrateSchema(db, 'history', HISTORY_MIGRATIONS.slice(0, 2));
    db.prepare('INSERT INTO messages (conversation_id, message_id, bucket, sender_id, client_msg_id, body, created_at) VALUES (?, ?, 0, ?, ?, ?, ?)').run('g:3', BigInt(id(5)), 'ann', 'old', 'before', 1_767_225_600_005);
    db.prepare('INSERT INTO message_by_client_id (sender_id, client_msg_id, conversation_id, message_id) VALUES (?, ?, ?, ?)').run('ann', 'old', 'g:3', BigInt(id(5)));
    db.prepare('INSERT INTO conversations (conversation_id, last_message_id) VALUES (?, ?)').run('g:3', BigInt(id(5)));
    db.prepare('INSERT INTO user_conversations (user_id, conversation_id) VALUES (?, ?)').run('ann', 'g:3');
    db.prepare('INSERT INTO device_cursors (user_id, device_id, conversation_id, message_id) VALUES (?, ?, ?, ?)').run('ann', 'phone', 'g:3', BigInt(id(5)));
    const store = new SqliteMessageStore({ db, ownsDb: true });
    const old = { messageId: id(5), conversationId: 'g:3', senderId: 'ann', clientMsgId: 'old', text: 'before', createdAt: new Date(1_767_225_600_005), seq: '0', epoch: '0' };
    assert.deepEqual((await store.listMessages({ conversationId: 'g:3', limit: 5 })).messages, [old]);
    assert.deepEqual(await store.findByClientMsgId('ann', 'old'), old);
    assert.deepEqual((await store.listConversations('ann', 5)).conversations[0]?.lastMessage, old);
    assert.deepEqual(await store.loadDeviceCursors('ann', 'phone'), new Map([['g:3', { messageId: BigInt(id(5)), exact: false }]]));
    const { message } = await store.append(send('g:3', 6), ['ann']);
    assert.deepEqual([message.seq, message.epoch], ['1', id(6)]);
    assert.equal(db.prepare("SELECT MAX(version) FROM schema_migrations WHERE owner = 'history'").pluck().get(), 3);
    await store.close();
  });

  it('reads the sequencer with one primary-key lookup', () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
    const prepared: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = (sql: string) => (prepared.push(sql), prepare(sql));
    new SqliteMessageStore({ db });
    const reads = prepared.filter((sql) => /SELECT .*last_seq.* FROM conversations WHERE conversation_id = \?/s.test(sql));
    assert.equal(reads.length, 1);
    const plan = (prepare(`EXPLAIN QUERY PLAN ${reads[0]}`).all('g:1') as { detail: string }[]).map((r) => r.detail).join('; ');
    assert.match(plan, /^SEARCH conversations USING PRIMARY KEY \(conversation_id=\?\)$/);
    db.close();
  });
});
