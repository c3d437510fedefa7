import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { waitUntil } from '../testing/wait-until';
import { SqliteMessageStore } from './message-store-sqlite';
import type { ThreadWritesOptions } from './message-store-sqlite-writes';

const msg = (i: number, text: string | null = `t${i}`, clientMsgId = `c${i}`) => ({
  messageId: String(9_000_000 + i),
  conversationId: 'dm:w1:w2',
  senderId: 'w1',
  clientMsgId,
  text: text as string,
  createdAt: new Date(1_767_225_600_000 + i),
  seq: '0',
  epoch: '0',
});

/** A threaded store on a fresh file; `run` gets it and the file's path, and it is closed after. */
async function withThreadedStore(opts: Partial<ThreadWritesOptions>, run: (store: SqliteMessageStore, path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'history-writes-'));
  const path = join(dir, 'chat.db');
  const store = new SqliteMessageStore({
    db: openSqliteDatabase({ path, synchronous: 'full' }),
    ownsDb: true,
    writerThread: { maxBatch: 256, maxQueued: 10_000, log: pino({ level: 'silent' }), ...opts },
  });
  try {
    await run(store, path);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SqliteMessageStore on a writer thread', () => {
  it('answers each append once committed, a retried key deduped, one failing append failing alone', async () => {
    await withThreadedStore({}, async (store, path) => {
      const first = await Promise.allSettled([store.append(msg(1), ['w1', 'w2']), store.append(msg(2, null), ['w1', 'w2']), store.append(msg(3), ['w1', 'w2'])]);
      assert.deepEqual(first.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      // Sent while the first batch may still be committing: they go in the next one.
      const more = Array.from({ length: 50 }, (_, i) => store.append(msg(10 + i), ['w1', 'w2']));
      const retried = await store.append(msg(99, 'again', 'c1'), ['w1', 'w2']);
      assert.equal((await Promise.all(more)).filter((r) => r.created).length, 50);
      assert.deepEqual([retried.created, retried.message.messageId, retried.message.text], [false, '9000001', 't1']);
      // Committed means visible to another connection, here a fresh one.
      const other = openSqliteDatabase({ path, synchronous: 'normal' });
      assert.equal(other.prepare("SELECT count(*) FROM messages WHERE conversation_id = 'dm:w1:w2'").pluck().get(), 52);
      other.close();
      assert.equal((await store.listMessages({ conversationId: 'dm:w1:w2', limit: 100 })).messages.length, 52);
    });
  });

  it('splits what waits into batches of at most maxBatch, in order', async () => {
    await withThreadedStore({ maxBatch: 3 }, async (store) => {
      const results = await store.appendBatch(Array.from({ length: 10 }, (_, i) => ({ message: msg(i, `b${i}`, i === 7 ? 'c2' : `c${i}`), participantIds: ['w1', 'w2'] })));
      assert.equal(results.filter((r) => r.created).length, 9);
      assert.deepEqual([results[7].created, results[7].message.messageId], [false, '9000002'], 'a later entry with an earlier key gets the earlier message');
    });
  });

  it('refuses writes past maxQueued with UNAVAILABLE, and takes them again once the queue drains', async () => {
    await withThreadedStore({ maxQueued: 3 }, async (store) => {
      const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => store.append(msg(i), ['w1', 'w2'])));
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
      const refused = (results[3] as PromiseRejectedResult).reason as ChatError;
      assert.ok(refused instanceof ChatError);
      assert.equal(refused.code, ErrorCode.ERROR_CODE_UNAVAILABLE);
      assert.equal((await store.append(msg(3), ['w1', 'w2'])).created, true);
    });
  });

  it('commits on the event loop when its thread dies, and says so', async () => {
    const logged: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
    await withThreadedStore({ log }, async (store) => {
      assert.equal((await store.append(msg(1), ['w1', 'w2'])).created, true);
      await (store as unknown as { writes: { worker: { terminate(): Promise<number> } } }).writes.worker.terminate();
      await waitUntil(() => logged.join('').includes('history writer thread exited'), 2000, 'the thread death logged');
      assert.equal((await store.append(msg(2), ['w1', 'w2'])).created, true);
      assert.equal((await store.append(msg(3, 'dup', 'c1'), ['w1', 'w2'])).created, false);
      await store.saveDeviceCursors('w2', 'phone', new Map([['dm:w1:w2', { messageId: 9_000_002n, exact: true }]]));
      assert.deepEqual(await store.loadDeviceCursors('w2', 'phone'), new Map([['dm:w1:w2', { messageId: 9_000_002n, exact: true }]]));
      assert.equal((await store.listMessages({ conversationId: 'dm:w1:w2', limit: 10 })).messages.length, 2);
    });
  });

  it('commits what is queued before close() resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'history-writes-'));
    const path = join(dir, 'chat.db');
    try {
      const store = new SqliteMessageStore({ db: openSqliteDatabase({ path, synchronous: 'full' }), ownsDb: true, writerThread: { maxBatch: 4, maxQueued: 100, log: pino({ level: 'silent' }) } });
      const appends = Array.from({ length: 20 }, (_, i) => store.append(msg(i), ['w1', 'w2']));
      await store.close();
      assert.equal((await Promise.all(appends)).length, 20);
      const db = openSqliteDatabase({ path, synchronous: 'normal' });
      assert.equal(db.prepare('SELECT count(*) FROM messages').pluck().get(), 20);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lingers between batches, but neither a full batch nor close() waits for it', { timeout: 20_000 }, async () => {
    // A linger of a minute: were either to wait for it, the test would time out.
    await withThreadedStore({ maxBatch: 2, lingerMs: 60_000 }, async (store) => {
      assert.equal((await store.append(msg(1), ['w1', 'w2'])).created, true);
      const full = await Promise.all([store.append(msg(2), ['w1', 'w2']), store.append(msg(3), ['w1', 'w2'])]);
      assert.deepEqual(full.map((r) => r.created), [true, true]);
      const lingering = store.append(msg(4), ['w1', 'w2']);
      await store.close();
      assert.equal((await lingering).created, true);
    });
  });

  it('needs a database file', () => {
    assert.throws(() => new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true, writerThread: { maxBatch: 1, maxQueued: 1, log: pino({ level: 'silent' }) } }), /needs a database file/);
  });
});
