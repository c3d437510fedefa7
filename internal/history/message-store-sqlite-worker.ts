import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { SqliteHistoryWriter, type WriteOp, type WriteResult } from './message-store-sqlite-writer';

/** What the event loop hands the writer thread: its settings once, then batches and a stop. */
export interface WriterThreadData {
  path: string;
  synchronous: 'full' | 'normal';
  /** wal_autocheckpoint of the writer's connection, pages (0: never in a commit). */
  walAutocheckpointPages: number;
  /** journal_size_limit of the writer's connection, bytes (-1: none). */
  journalSizeLimitBytes: number;
}
export type WriterThreadRequest = { ops: readonly WriteOp[] } | 'stop';
/** The answer to one batch: a result per op, or why its commit failed (then nothing is stored). */
export type WriterThreadReply = { results: WriteResult[] } | { failed: string };

/**
 * The thread of a threaded SqliteMessageStore: its own connection to the database file, one
 * transaction and one commit per batch it is handed, answering each batch once it is durable.
 * Batches arrive one at a time (the store waits for an answer before it sends the next), so the
 * writes that queued while one commit ran form the next batch.
 */
const data = workerData as WriterThreadData;
const db = openSqliteDatabase({ path: data.path, synchronous: data.synchronous });
db.pragma(`wal_autocheckpoint = ${data.walAutocheckpointPages}`);
db.pragma(`journal_size_limit = ${data.journalSizeLimitBytes}`);
const writer = new SqliteHistoryWriter(db);
const port = parentPort!;
port.on('message', (msg: WriterThreadRequest) => {
  if (msg === 'stop') {
    db.close();
    port.close();
    return;
  }
  let reply: WriterThreadReply;
  try {
    reply = { results: writer.run(msg.ops) };
  } catch (err) {
    reply = { failed: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
