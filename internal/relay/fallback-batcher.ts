import type { FallbackReason } from '../telemetry/metrics';
import type { DeliveryFallback } from './delivery-fallback';
import type { RelayItem } from './relay-item';

export interface FallbackBatcherOptions {
  targetServerId: string;
  fallback: DeliveryFallback;
  /** What waits is handed over after this long even when fewer than `maxBatch` wait. */
  flushMs: number;
  /** Deliveries and events per fallback record at most. */
  maxBatch: number;
}

/**
 * The fallback side of one relay peer: deliveries and events bound for the peer's Kafka delivery
 * topic leave in records of up to `maxBatch`, as the relay would have batched them, not one record
 * each (a fallback record costs about three times a relay batch, and a peer's overflow comes in
 * bursts). One reason per record: an item with another reason first hands over what waits, so
 * records leave in the order their items came.
 */
export class FallbackBatcher {
  private waiting: RelayItem[] = [];
  private reason: FallbackReason = 'stream_down';
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: FallbackBatcherOptions) {}

  /** Adds one delivery or event; it leaves within `flushMs`, or at once when it fills a record. */
  add(item: RelayItem, reason: FallbackReason): void {
    if (reason !== this.reason) {
      this.flush();
      this.reason = reason;
    }
    this.waiting.push(item);
    if (this.waiting.length >= this.opts.maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.opts.flushMs);
  }

  /**
   * Hands `items` (in order, in records of up to `maxBatch`) to the fallback at once, ahead of
   * what waits: the caller's items are the older ones (a failed stream's unacknowledged and queued
   * items, while what waits here overflowed after them).
   */
  sendNow(items: readonly RelayItem[], reason: FallbackReason): void {
    const max = this.opts.maxBatch;
    for (let i = 0; i < items.length; i += max) void this.opts.fallback.send(this.opts.targetServerId, items.slice(i, i + max), reason);
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
