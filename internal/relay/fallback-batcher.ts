import type { RelayDelivery } from '../../gen/chat/v1/relay';
import type { FallbackReason } from '../telemetry/metrics';
import type { DeliveryFallback } from './delivery-fallback';

export interface FallbackBatcherOptions {
  targetServerId: string;
  fallback: DeliveryFallback;
  /** What waits is handed over after this long even when fewer than `maxBatch` wait. */
  flushMs: number;
  /** Deliveries per fallback record at most. */
  maxBatch: number;
}

/**
 * The fallback side of one relay peer: deliveries bound for the peer's Kafka delivery topic leave
 * in records of up to `maxBatch`, as the relay would have batched them, not one record each (a
 * fallback record costs about three times a relay batch, and a peer's overflow comes in bursts).
 * One reason per record: a delivery with another reason first hands over what waits, so records
 * leave in the order their deliveries came.
 */
export class FallbackBatcher {
  private waiting: RelayDelivery[] = [];
  private reason: FallbackReason = 'stream_down';
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: FallbackBatcherOptions) {}

  /** Adds one delivery; it leaves within `flushMs`, or at once when it fills a record. */
  add(delivery: RelayDelivery, reason: FallbackReason): void {
    if (reason !== this.reason) {
      this.flush();
      this.reason = reason;
    }
    this.waiting.push(delivery);
    if (this.waiting.length >= this.opts.maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.opts.flushMs);
  }

  /**
   * Hands `deliveries` (in order, in records of up to `maxBatch`) to the fallback at once, ahead
   * of what waits: the caller's deliveries are the older ones (a failed stream's unacknowledged
   * and queued deliveries, while what waits here overflowed after them).
   */
  sendNow(deliveries: readonly RelayDelivery[], reason: FallbackReason): void {
    const max = this.opts.maxBatch;
    for (let i = 0; i < deliveries.length; i += max) void this.opts.fallback.send(this.opts.targetServerId, deliveries.slice(i, i + max), reason);
  }

  /** Hands over what waits now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    void this.opts.fallback.send(this.opts.targetServerId, batch, this.reason);
  }
}
