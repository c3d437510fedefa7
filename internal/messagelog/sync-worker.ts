import type { Logger } from 'pino';
import type { Bus, BusRecord, Subscription } from '../bus/bus';
import { ChatError } from '../errors/chat-error';
import type { MessageAppender } from '../history/message-store';
import type { ChatMetrics } from '../telemetry/metrics';
import { secondsSince } from '../telemetry/metrics';
import { withRemoteParent } from '../telemetry/trace-context';
import { decodeLogRecord, MESSAGE_LOG_TOPIC, SYNC_WORKER_GROUP } from './message-log';

export interface SyncWorkerOptions {
  bus: Bus;
  /** The history store (Cassandra in the mesh); its append is idempotent by message id. */
  store: MessageAppender;
  metrics: ChatMetrics;
  log: Logger;
  /** Wait before retrying a failed write; doubles up to `maxRetryBackoffMs`. */
  retryBackoffMs: number;
  maxRetryBackoffMs: number;
}

/**
 * Moves the message log into history. Each record is written to the store (message and every
 * participant's conversation list) and only then acknowledged, so the consumer group's committed
 * offset never passes an unwritten message: a crash anywhere re-reads from the last commit, and
 * the idempotent append turns the replay into no-ops.
 *
 * A store that is down (UNAVAILABLE, timeouts) is waited out: the record is retried in place with
 * backoff until it is written or the worker stops, keeping per-conversation order. Only a record
 * that can never be written (undecodable, invalid) is left to the bus, which parks it.
 */
export class SyncWorker {
  private sub?: Subscription;
  private stopping = false;

  constructor(private readonly opts: SyncWorkerOptions) {}

  /** Resolves once the worker consumes the log. */
  async start(): Promise<void> {
    this.sub = this.opts.bus.subscribe(MESSAGE_LOG_TOPIC, (r) => this.handle(r), { group: SYNC_WORKER_GROUP, fromBeginning: true });
    await this.sub.ready;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.sub?.close();
  }

  private async handle(record: BusRecord): Promise<void> {
    const { message, participantIds, traceContext } = decodeLogRecord(record.payload);
    if (!message) throw ChatError.invalidArgument('log record without a message');
    await withRemoteParent(traceContext, 'chat.sync.write', async () => {
      const { created } = await this.writeWithRetry(() => this.opts.store.append(message, participantIds), message.messageId);
      this.opts.metrics.syncWrites.inc({ result: created ? 'created' : 'duplicate' });
      if (created) this.opts.metrics.syncLag.observe(secondsSince(message.createdAt ?? Date.now()));
    }, { 'chat.message_id': message.messageId, 'chat.conversation_id': message.conversationId });
  }

  private async writeWithRetry<T>(write: () => Promise<T>, messageId: string): Promise<T> {
    let backoff = this.opts.retryBackoffMs;
    for (;;) {
      try {
        return await write();
      } catch (err) {
        this.opts.metrics.syncWrites.inc({ result: 'error' });
        const e = ChatError.from(err);
        if (this.stopping || (e.codeName !== 'UNAVAILABLE' && e.codeName !== 'INTERNAL')) throw err;
        this.opts.log.warn({ err, messageId, retryInMs: backoff }, 'history write failed; retrying');
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, this.opts.maxRetryBackoffMs);
      }
    }
  }
}
