import { RelayBatch } from '../../gen/chat/v1/relay';
import type { Bus } from '../bus/bus';

/**
 * The Kafka delivery topic of one chat server: its inbox when it cannot be reached otherwise, one
 * RelayBatch per record (relay.proto), consumed by that server only (DeliveryFallback.consume).
 */
export function deliveryTopic(serverId: string): string {
  return `chat.delivery.v1.${serverId}`;
}

/** The parts of one record; absent parts are empty. The batch id means nothing on the topic. */
export type InboxRecord = Partial<Omit<RelayBatch, 'batchId'>>;

export interface InboxPublisherOptions {
  bus: Bus;
  /** Bound on each publish (CHAT_ENGINE_TIMEOUT_MS). */
  publishTimeoutMs: number;
}

/**
 * Publishes records to chat servers' delivery topics, so that what is meant for one server's
 * connections reaches that server only: the relay's fallback (deliveries, typing, receipts), and
 * the session service's presence changes and location changes for the servers that need them.
 * Records are keyed by the target server, so the records published to one server after earlier
 * publishes resolved are handled in that order.
 */
export class InboxPublisher {
  constructor(private readonly opts: InboxPublisherOptions) {}

  /**
   * Publishes `record` to `serverId`'s delivery topic (nothing when every part is empty). Resolves
   * once the bus accepted it; rejects when it did not, and does not retry: the caller decides what
   * a lost record costs.
   */
  async publish(serverId: string, record: InboxRecord): Promise<void> {
    const batch: RelayBatch = {
      batchId: '0',
      deliveries: record.deliveries ?? [],
      events: record.events ?? [],
      presences: record.presences ?? [],
      connectionsChanged: record.connectionsChanged ?? [],
    };
    if (batch.deliveries.length + batch.events.length + batch.presences.length + batch.connectionsChanged.length === 0) return;
    await this.opts.bus.publish(deliveryTopic(serverId), serverId, RelayBatch.encode(batch).finish(), { timeoutMs: this.opts.publishTimeoutMs });
  }
}
