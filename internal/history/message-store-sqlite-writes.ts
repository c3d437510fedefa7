import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ChatError } from '../errors/chat-error';
import { atEndOfTurn } from '../eventloop/end-of-turn';
import type { SqliteDatabase } from '../sqlite/sqlite-database';
import type { WriterThreadData, WriterThreadReply, WriterThreadRequest } from './message-store-sqlite-worker';
import { SqliteHistoryWriter, type WriteOp, type WriteResult } from './message-store-sqlite-writer';

/**
 * Where SqliteMessageStore's writes commit. Writes are group-committed: those handed over while
 * a commit runs (or within one event-loop turn) share the next transaction, and each promise
 * settles only once its transaction is committed (durable per the `synchronous` pragma). A write
 * that fails rejects alone; a failed commit rejects its whole batch.
 */
export interface HistoryWrites {
  /** Queues the ops, in order, for the next group commit. */
  submit(ops: readonly WriteOp[]): Promise<WriteResult>[];
  /** Commits what is queued, then releases what the writes hold. */
  close(): Promise<void>;
}

interface Pending {
  op: WriteOp;
  resolve(result: WriteResult): void;
  reject(err: unknown): void;
}

/** Settles each pending write with its result. */
function answer(batch: readonly Pending[], results: readonly WriteResult[]): void {
  batch.forEach((p, i) => {
    const r = results[i];
    if (r !== null && !Array.isArray(r) && 'error' in r) p.reject(new Error(r.error));
    else p.resolve(r);
  });
}

/** Queues `ops` into `queue` as pending writes, returning their promises. */
function enqueue(queue: Pending[], ops: readonly WriteOp[]): Promise<WriteResult>[] {
  return ops.map((op) => new Promise<WriteResult>((resolve, reject) => void queue.push({ op, resolve, reject })));
}

/**
 * Commits on the event loop, at the end of the turn the writes arrived in: one transaction per
 * turn. The commit (and its fsync) blocks the loop, so this serves in-memory databases (no file
 * a thread could open) and stands in when the writer thread is gone.
 */
export class InlineWrites implements HistoryWrites {
  private readonly writer: SqliteHistoryWriter;
  private pending: Pending[] = [];

  constructor(private readonly db: SqliteDatabase) {
    this.writer = new SqliteHistoryWriter(db);
  }

  submit(ops: readonly WriteOp[]): Promise<WriteResult>[] {
    const first = this.pending.length === 0;
    const promises = enqueue(this.pending, ops);
    if (first && this.pending.length > 0) atEndOfTurn(() => this.flush());
    return promises;
  }

  close(): Promise<void> {
    if (this.db.open) this.flush();
    return Promise.resolve();
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let results: WriteResult[];
    try {
      results = this.writer.run(batch.map((p) => p.op));
    } catch (err) {
      // The commit itself failed: nothing of the batch is durable.
      for (const p of batch) p.reject(err);
      return;
    }
    answer(batch, results);
  }
}

/** Options of {@link ThreadWrites.start}. */
export interface ThreadWritesOptions {
  /** Writes per transaction at most; more wait for the next one. */
  maxBatch: number;
  /** Writes waiting for a transaction (besides the one committing) at most; more are refused UNAVAILABLE. */
  maxQueued: number;
  /**
   * A batch leaves at least this long after the previous one left, unless `maxBatch` writes wait:
   * fewer, fuller commits under load (fewer fsyncs, thread hand-offs and WAL pages per message),
   * at up to this much more latency. 0 (the default): as soon as the previous commit is answered.
   */
  lingerMs?: number;
  log: Logger;
}

/**
 * Commits on a worker thread with a connection of its own, so neither the statements nor the
 * fsync of a commit ever hold up the event loop. One batch is in the thread at a time: what
 * arrives meanwhile waits here and goes as the next batch the moment the thread answers (the
 * first write of an idle store waits for the end of its turn, to gather the turn's writes). The
 * queue is bounded: past `maxQueued` a write is refused with UNAVAILABLE (the client retries)
 * rather than memory growing without limit behind a slow disk.
 *
 * Should the thread die, its batch in flight is failed (it may or may not have committed; a retry
 * is idempotent) and the writes go on inline, on the event loop's connection.
 */
export class ThreadWrites implements HistoryWrites {
  private queue: Pending[] = [];
  private inFlight: Pending[] | undefined;
  private flushQueued = false;
  private fallback: InlineWrites | undefined;
  private stopping = false;
  private drained: (() => void) | undefined;
  private lastSentAt = -Infinity;
  private lingering: NodeJS.Timeout | undefined;

  private constructor(
    private readonly db: SqliteDatabase,
    private readonly worker: Worker,
    private readonly opts: ThreadWritesOptions,
  ) {}

  /** Starts the writer thread on the file behind `db` (a file database, already migrated). */
  static start(db: SqliteDatabase, opts: ThreadWritesOptions): ThreadWrites {
    if (db.memory) throw new Error('a writer thread needs a database file; an in-memory database writes inline');
    if (!Number.isSafeInteger(opts.maxBatch) || opts.maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${opts.maxBatch}`);
    if (!Number.isSafeInteger(opts.maxQueued) || opts.maxQueued < 1) throw new RangeError(`maxQueued must be a positive integer, got ${opts.maxQueued}`);
    const autocheckpoint = Number(db.pragma('wal_autocheckpoint', { simple: true }));
    const workerData: WriterThreadData = {
      path: db.name,
      synchronous: Number(db.pragma('synchronous', { simple: true })) >= 2 ? 'full' : 'normal',
      // With a WalCheckpointer the event loop's connection never checkpoints in a commit; the
      // writer's does only past this many pages, a bound for the WAL should that thread die.
      walAutocheckpointPages: autocheckpoint === 0 ? WAL_PAGES_WITHOUT_CHECKPOINTER : autocheckpoint,
      journalSizeLimitBytes: Number(db.pragma('journal_size_limit', { simple: true })),
    };
    const script = join(__dirname, `message-store-sqlite-worker${extname(__filename)}`);
    // From source (tests, tsx) the script is TypeScript, and a worker does not get the main
    // thread's loader hooks: it registers tsx's require hook itself.
    const worker = script.endsWith('.ts')
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(script)});`, { eval: true, workerData })
      : new Worker(script, { workerData });
    const writes = new ThreadWrites(db, worker, opts);
    // Idle, the thread holds no process up; while a batch is in it, it does (see send()).
    worker.unref();
    worker.on('message', (reply: WriterThreadReply) => writes.answered(reply));
    worker.on('error', (err) => writes.died('failed', err));
    worker.on('exit', (code) => writes.died(`exited with ${code}`));
    return writes;
  }

  submit(ops: readonly WriteOp[]): Promise<WriteResult>[] {
    if (this.fallback) return this.fallback.submit(ops);
    if (this.stopping) return ops.map(() => Promise.reject(ChatError.unavailable('the history store is closing')));
    if (this.queue.length + ops.length > this.opts.maxQueued) {
      const err = ChatError.unavailable(`history writes are behind (${this.queue.length} waiting); retry`);
      return ops.map(() => Promise.reject(err));
    }
    const promises = enqueue(this.queue, ops);
    if (!this.inFlight && this.queue.length >= this.opts.maxBatch) {
      this.send(); // a full batch does not linger
    } else if (!this.inFlight && !this.flushQueued && !this.lingering) {
      this.flushQueued = true;
      atEndOfTurn(() => {
        this.flushQueued = false;
        this.send();
      });
    }
    return promises;
  }

  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (!this.fallback) {
      if (this.inFlight || this.queue.length > 0) {
        await new Promise<void>((resolve) => {
          this.drained = resolve;
          if (!this.inFlight) this.send();
        });
      }
      if (!this.fallback) {
        const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
        this.worker.ref();
        this.worker.postMessage('stop' satisfies WriterThreadRequest);
        await exited;
      }
    }
    await this.fallback?.close();
  }

  /** Hands the thread the next batch, when it has none and something waits. */
  private send(): void {
    if (this.inFlight || this.fallback) return;
    if (this.queue.length === 0) {
      this.drained?.();
      return;
    }
    const wait = (this.opts.lingerMs ?? 0) - (performance.now() - this.lastSentAt);
    if (wait > 0 && this.queue.length < this.opts.maxBatch && !this.stopping) {
      this.lingering ??= setTimeout(() => {
        this.lingering = undefined;
        this.send();
      }, wait);
      return;
    }
    if (this.lingering) clearTimeout(this.lingering);
    this.lingering = undefined;
    this.lastSentAt = performance.now();
    const batch = this.queue.length <= this.opts.maxBatch ? this.queue : this.queue.slice(0, this.opts.maxBatch);
    this.queue = batch === this.queue ? [] : this.queue.slice(this.opts.maxBatch);
    this.inFlight = batch;
    this.worker.ref();
    this.worker.postMessage({ ops: batch.map((p) => p.op) } satisfies WriterThreadRequest);
  }

  private answered(reply: WriterThreadReply): void {
    const batch = this.inFlight;
    this.inFlight = undefined;
    this.worker.unref();
    // The next batch leaves before this one's promises settle: the thread commits while the
    // event loop delivers.
    this.send();
    if (!batch) return;
    if ('failed' in reply) {
      const err = new Error(reply.failed);
      for (const p of batch) p.reject(err);
    } else {
      answer(batch, reply.results);
    }
  }

  private died(why: string, err?: unknown): void {
    if (this.fallback || (this.stopping && !this.inFlight && this.queue.length === 0)) return;
    this.opts.log.error({ err }, `history writer thread ${why}: writes commit on the event loop from now on`);
    if (this.lingering) clearTimeout(this.lingering);
    this.lingering = undefined;
    this.fallback = new InlineWrites(this.db);
    const lost = this.inFlight ?? [];
    this.inFlight = undefined;
    const unknown = ChatError.unavailable('the history writer stopped while committing; retry', err);
    for (const p of lost) p.reject(unknown);
    // What had not reached the thread is written inline, in order.
    const waiting = this.queue;
    this.queue = [];
    const results = this.fallback.submit(waiting.map((p) => p.op));
    waiting.forEach((p, i) => void results[i].then((r) => p.resolve(r), (e: unknown) => p.reject(e)));
    this.drained?.();
  }
}

/** wal_autocheckpoint of the writer thread's connection when a WalCheckpointer runs: 40 MB of WAL. */
const WAL_PAGES_WITHOUT_CHECKPOINTER = 10_000;
