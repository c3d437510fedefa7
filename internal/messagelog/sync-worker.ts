import { ROOT_CONTEXT, propagation, trace, type Link } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Bus, BusRecord, Subscription } from '../bus/bus';
import { ChatError } from '../errors/chat-error';
import type { AppendEntry, AppendResult, BatchAppender } from '../history/message-store';
import type { ChatMetrics } from '../telemetry/metrics';
import { secondsSince } from '../telemetry/metrics';
import { withRemoteParent } from '../telemetry/trace-context';
import { decodeLogRecord, MESSAGE_LOG_TOPIC, SYNC_WORKER_GROUP } from './message-log';

export interface SyncWorkerOptions {
  bus: Bus;
  /**
   * The history store (Cassandra in the mesh). Its appendBatch is idempotent, and dedupes client
   * keys without a transaction because this worker is the ordered writer it assumes.
   */
  store: BatchAppender;
  metrics: ChatMetrics;
  log: Logger;
  /** Wait before retrying a failed write; doubles up to `maxRetryBackoffMs`. */
  retryBackoffMs: number;
  maxRetryBackoffMs: number;
  /** Log records written to the store per batch at most (CHAT_SYNC_MAX_BATCH). */
  maxBatch: number;
  /** How long a batch that is not full may wait for more records (CHAT_SYNC_LINGER_MS). */
  lingerMs: number;
}

/** Message ids named on a batch's span at most (the span links every message's trace anyway). */
const SPAN_MESSAGE_IDS = 64;

/**
 * Moves the message log into history, a batch at a time: the records waiting on a partition (up
 * to `maxBatch`; when fewer are there, waiting up to `lingerMs` for more, which at a few hundred
 * messages a second turns a store round per message into one per batch) are written to the store
 * in one appendBatch (messages and every participant's conversation list) and only then
 * acknowledged, so the consumer group's committed offset never passes an unwritten message: a
 * crash anywhere re-reads from the last commit, and the idempotent append turns the replay into
 * no-ops. A batch holds records of one partition in log order, which is what lets the store
 * dedupe client keys without a lightweight transaction.
 *
 * A store that is down (a ChatError UNAVAILABLE or INTERNAL) is waited out: the batch is retried
 * in place with backoff until it is written or the worker stops, keeping per-conversation order.
 * A batch with a record that can never be written (undecodable, without a message, an id the
 * store refuses) fails as a whole; the bus then hands its records over one at a time and parks
 * only the bad one.
 *
 * Tracing: one `chat.sync.write` span per batch, child of the first record's send and linked to
 * the sends of the others; the store's calls are its children.
 */
export class SyncWorker {
  private sub?: Subscription;
  private stopping = false;

  constructor(private readonly opts: SyncWorkerOptions) {}

  /** Resolves once the worker consumes the log. */
  async start(): Promise<void> {
    this.sub = this.opts.bus.subscribeBatch(MESSAGE_LOG_TOPIC, (records) => this.handle(records), {
      group: SYNC_WORKER_GROUP,
      fromBeginning: true,
      maxBatch: this.opts.maxBatch,
      lingerMs: this.opts.lingerMs,
    });
    await this.sub.ready;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.sub?.close();
  }

  private async handle(records: BusRecord[]): Promise<void> {
    const decoded = records.map((r) => decodeLogRecord(r.payload));
    const entries: AppendEntry[] = decoded.map(({ message, participantIds }) => {
      if (!message) throw ChatError.invalidArgument('log record without a message');
      return { message, participantIds };
    });
    const [first] = entries;
    if (!first) return;
    const ids = entries.map((e) => e.message.messageId);
    const attributes = {
      'chat.message_id': first.message.messageId,
      'chat.conversation_id': first.message.conversationId,
      'chat.batch_size': entries.length,
      'chat.message_ids': ids.slice(0, SPAN_MESSAGE_IDS),
    };
    await withRemoteParent(
      decoded[0]?.traceContext,
      'chat.sync.write',
      async (span) => {
        span.addLinks(links(decoded.slice(1).map((d) => d.traceContext)));
        const results = await this.writeWithRetry(() => this.opts.store.appendBatch(entries), ids);
        this.count(results);
      },
      attributes,
    );
  }

  private count(results: readonly AppendResult[]): void {
    const now = Date.now();
    for (const { message, created } of results) {
      this.opts.metrics.syncWrites.inc({ result: created ? 'created' : 'duplicate' });
      if (created) this.opts.metrics.syncLag.observe(secondsSince(message.createdAt ?? now, now));
    }
  }

  private async writeWithRetry<T>(write: () => Promise<T>, messageIds: readonly string[]): Promise<T> {
    let backoff = this.opts.retryBackoffMs;
    for (;;) {
      try {
        return await write();
      } catch (err) {
        this.opts.metrics.syncWrites.inc({ result: 'error' });
        // Only a store error is worth waiting out; anything else is about the records.
        const transient = err instanceof ChatError && (err.codeName === 'UNAVAILABLE' || err.codeName === 'INTERNAL');
        if (this.stopping || !transient) throw err;
        const where = { first: messageIds[0], messages: messageIds.length, retryInMs: backoff };
        this.opts.log.warn({ err, ...where }, 'history write failed; retrying');
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, this.opts.maxRetryBackoffMs);
      }
    }
  }
}

/** Span links to the sends whose trace context a record carried. */
function links(carriers: ReadonlyArray<Readonly<Record<string, string>> | undefined>): Link[] {
  const out: Link[] = [];
  for (const carrier of carriers) {
    const context = carrier && trace.getSpanContext(propagation.extract(ROOT_CONTEXT, carrier));
    if (context && trace.isSpanContextValid(context)) out.push({ context });
  }
  return out;
}
