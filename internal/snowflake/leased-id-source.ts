import type { Logger } from 'pino';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import type { IdSource } from './id-source';
import { SnowflakeGenerator } from './snowflake';
import type { WorkerLease } from './worker-lease';

/** Options of {@link LeasedIdSource}. */
export interface LeasedIdSourceOptions {
  /** A fresh, unacquired lease (a lost lease is never resumed, so each attempt takes a new one). */
  newLease: () => WorkerLease;
  /** Wait before the first new attempt after a loss or a failed attempt; doubles up to 10 times this. */
  retryMs: number;
  log: Logger;
}

/**
 * Snowflake ids under a leased worker id that outlive the loss of the lease. A lease is lost when
 * the store forgets it (a Redis restart or failover) or renewals stall past its TTL; the lease
 * itself fails closed (worker-lease.ts). This source then refuses ids at once (UNAVAILABLE: the
 * client retries the send) and acquires a new lease in place, retrying with backoff until it gets
 * one, instead of taking the whole process down and every connection with it.
 *
 * Safe for the same reason a fresh process is: the new lease is exclusive like any other, and if it
 * names a worker id this process held before, the new generator starts past the last id issued
 * under it, so no id repeats.
 */
export class LeasedIdSource implements IdSource {
  private lease?: WorkerLease;
  private generator?: SnowflakeGenerator;
  /** The last id issued under each worker id this process has held, so a regained one goes on past it. */
  private readonly lastByWorker = new Map<number, bigint>();
  private retryTimer?: NodeJS.Timeout;
  private failures = 0;
  private closed = false;

  constructor(private readonly opts: LeasedIdSourceOptions) {}

  /** Acquires the first lease; rejects (UNAVAILABLE) if none can be had, so a process fails to start. */
  async start(): Promise<number> {
    return this.acquire();
  }

  /** The worker id ids are issued under now; undefined while a new lease is being acquired. */
  get workerId(): number | undefined {
    return this.lease?.isHeld() ? this.lease.workerId : undefined;
  }

  nextString(): string {
    if (!this.generator || !this.lease?.isHeld()) {
      throw new ChatError(ErrorCode.ERROR_CODE_UNAVAILABLE, 'this server is renewing its Snowflake worker-id lease; retry the send');
    }
    return this.generator.nextString();
  }

  /** Stops retrying and releases the lease if held. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.lease?.release();
  }

  private async acquire(): Promise<number> {
    const lease = this.opts.newLease();
    const workerId = await lease.acquire();
    if (this.closed) {
      await lease.release();
      return workerId;
    }
    const previous = this.generator?.last;
    if (this.generator && previous !== undefined) this.lastByWorker.set(this.generator.workerId, previous);
    this.generator = new SnowflakeGenerator({ workerId, after: this.lastByWorker.get(workerId) });
    this.lease = lease;
    this.failures = 0;
    lease.onLost((reason) => {
      this.opts.log.error({ err: reason, workerId }, 'Snowflake worker-id lease lost; refusing sends until a new one is acquired');
      this.scheduleRetry();
    });
    return workerId;
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    const delay = Math.min(this.opts.retryMs * 2 ** this.failures, this.opts.retryMs * 10);
    this.retryTimer = setTimeout(() => {
      this.acquire().then(
        (workerId) => this.opts.log.warn({ workerId }, 'Snowflake worker-id lease acquired again; sends go on'),
        (err: unknown) => {
          this.failures++;
          this.opts.log.error({ err }, 'cannot acquire a new Snowflake worker-id lease yet; retrying');
          this.scheduleRetry();
        },
      );
    }, delay);
    this.retryTimer.unref();
  }
}
