import type { Logger } from 'pino';
import { RelayBatch, type RelayDelivery } from '../../gen/chat/v1/relay';
import type { Bus, Subscription } from '../bus/bus';
import type { ChatMetrics, FallbackReason } from '../telemetry/metrics';

/** The fallback topic of one chat server (message_log.proto), one RelayBatch per record. */
export function deliveryTopic(serverId: string): string {
  return `chat.delivery.v1.${serverId}`;
}

/**
 * The relay's fallback: deliveries for a server the relay cannot reach go to that server's Kafka
 * delivery topic, which the server consumes and pushes to its connections. A publish that fails
 * loses only the live push (logged and counted): the message is in the log, and its recipients
 * catch up from history when they resume.
 */
export class DeliveryFallback {
  constructor(private readonly opts: { bus: Bus; metrics: ChatMetrics; log: Logger; publishTimeoutMs: number }) {}

  private readonly inFlight = new Set<Promise<void>>();

  /** Hands deliveries to the fallback; {@link drain} waits for every such hand-over. */
  send(serverId: string, deliveries: readonly RelayDelivery[], reason: FallbackReason): Promise<void> {
    const p = this.publish(serverId, deliveries, reason).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return p;
  }

  /** Resolves once every fallback publish started so far has been acknowledged or given up. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async publish(serverId: string, deliveries: readonly RelayDelivery[], reason: FallbackReason): Promise<void> {
    const recipients = deliveries.reduce((n, d) => n + d.recipientUserIds.length, 0);
    const payload = RelayBatch.encode({ batchId: '0', deliveries: [...deliveries] }).finish();
    try {
      // One key per target: its topic keeps the order in which they were handed over.
      await this.opts.bus.publish(deliveryTopic(serverId), serverId, payload, { timeoutMs: this.opts.publishTimeoutMs });
      this.opts.metrics.fallbackBatches.inc({ reason });
      this.opts.metrics.deliveries.inc({ path: 'fallback' }, recipients);
    } catch (err) {
      this.opts.log.error({ err, serverId, reason, messages: deliveries.length }, 'fallback publish failed; recipients catch up from history');
    }
  }

  /**
   * Consumes this server's own delivery topic. Its consumer group remembers the position across
   * restarts, so deliveries published while the server was down reach whoever reconnected to it
   * (duplicates of what a resume replays; clients dedupe by id).
   */
  consume(serverId: string, push: (delivery: RelayDelivery) => void): Subscription {
    return this.opts.bus.subscribe(
      deliveryTopic(serverId),
      (record) => {
        for (const d of RelayBatch.decode(record.payload).deliveries) push(d);
      },
      { group: `delivery.${serverId}` },
    );
  }
}
