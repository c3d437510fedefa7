import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * The thread of a WalCheckpointer: its own connection to the database file, copying the WAL into
 * the file every `intervalMs` with a PASSIVE checkpoint (it never waits for, nor blocks, the
 * writer). Stops when told to, or fails loudly to its parent.
 */
const { path, intervalMs, synchronous } = workerData as { path: string; intervalMs: number; synchronous: 'FULL' | 'NORMAL' };
const db = new Database(path);
db.pragma(`synchronous = ${synchronous}`);
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), intervalMs);
parentPort!.on('message', (msg: string) => {
  if (msg !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort!.close();
});
