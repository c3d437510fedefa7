import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SqliteDatabase } from './sqlite-database';

/** SQLite's own default: checkpoint when the WAL reaches this many pages. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;
/** A WAL left larger than this after a checkpoint is truncated back to it. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Checkpoints the WAL of `db` from a worker thread instead of in the commit that fills it.
 * SQLite's automatic checkpoint runs inside a commit on the event loop every 1,000 WAL pages,
 * which under a chat load was every few tens of milliseconds: each one copies the pages and
 * fsyncs the file while every connection waits. From a thread, on a timer, the event loop never
 * waits for it, and a page rewritten many times between two checkpoints (the newest leaf of a busy
 * conversation) is copied once. Should the thread die, the automatic checkpoint comes back.
 */
export class WalCheckpointer {
  private stopping = false;

  private constructor(
    private readonly db: SqliteDatabase,
    private readonly worker: Worker,
  ) {}

  /** Starts checkpointing the file behind `db` (a file database in WAL mode) every `intervalMs`. */
  static start(db: SqliteDatabase, opts: { intervalMs: number; log: Logger }): WalCheckpointer {
    const synchronous = Number(db.pragma('synchronous', { simple: true })) >= 2 ? 'FULL' : 'NORMAL';
    const workerData = { path: db.name, intervalMs: opts.intervalMs, synchronous };
    const script = join(__dirname, `wal-checkpoint-worker${extname(__filename)}`);
    // From source (tests, tsx) the script is TypeScript, and a worker does not get the main
    // thread's loader hooks: it registers tsx's require hook itself.
    const worker = script.endsWith('.ts')
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(script)});`, { eval: true, workerData })
      : new Worker(script, { workerData });
    worker.unref();
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    db.pragma('wal_autocheckpoint = 0');
    const checkpointer = new WalCheckpointer(db, worker);
    const fallBack = (why: string, err?: unknown) => {
      if (checkpointer.stopping) return;
      opts.log.error({ err }, `WAL checkpoint thread ${why}: checkpoints run in commits again`);
      if (db.open) db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    };
    worker.on('error', (err) => fallBack('failed', err));
    worker.on('exit', (code) => fallBack(`exited with ${code}`));
    return checkpointer;
  }

  /** Stops the thread; the connection checkpoints in its commits again (and when it closes). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref(); // unref'd while it runs, so it never holds a process up; not while we wait
    this.worker.postMessage('stop');
    await exited;
  }
}
