import type { Logger } from 'pino';
import { RelayBatch } from '../../gen/chat/v1/relay';
import type { Bus, Subscription } from '../bus/bus';
import type { ChatMetrics, FallbackReason } from '../telemetry/metrics';
import { InboxPublisher, deliveryTopic } from './inbox-publisher';
import { batchParts, deliveryRecipients, type RelayItem } from './relay-item';
import { dispatchBatch, type ServerInbox } from './server-inbox';

/**
 * The relay's fallback: deliveries and events for a server the relay cannot reach go to that
 * server's Kafka delivery topic, which the server consumes into its inbox. A publish that fails
 * loses only the live push (logged and counted): a message is in the log, and its recipients
 * catch up from history when they resume; a typing indicator or receipt is not replayed (the next
 * one, or the conversation list, restores it).
 */
export class DeliveryFallback {
  private readonly publisher: InboxPublisher;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly opts: {
      bus: Bus;
      metrics: ChatMetrics;
      log: Logger;
      publishTimeoutMs: number;
      /**
       * Tests only (CHAT_TEST_FAULT=hold-fallback): called with each consumed record's hand-over
       * of its deliveries to the inbox, which it may run later (the record is committed before,
       * so a held delivery dies with the process); the record's other parts are not held. Unset:
       * handed over at once, in the turn that consumed the record.
       */
      holdDeliveries?: (deliver: () => void) => void;
    },
  ) {
    this.publisher = new InboxPublisher(opts);
  }

  /**
   * Hands items to the fallback, as one record in the order given (each kind keeps it); {@link drain}
   * waits for every such hand-over.
   */
  send(serverId: string, items: readonly RelayItem[], reason: FallbackReason): Promise<void> {
    const p = this.publish(serverId, items, reason).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return p;
  }

  /** Resolves once every fallback publish started so far has been acknowledged or given up. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async publish(serverId: string, items: readonly RelayItem[], reason: FallbackReason): Promise<void> {
    const { deliveries, events } = batchParts(items);
    try {
      // One key per target: its topic keeps the order in which they were handed over.
      await this.publisher.publish(serverId, { deliveries, events });
      this.opts.metrics.fallbackBatches.inc({ reason });
      this.opts.metrics.deliveries.inc({ path: 'fallback' }, deliveryRecipients(deliveries));
    } catch (err) {
      this.opts.log.error({ err, serverId, reason, messages: deliveries.length, events: events.length }, 'fallback publish failed; recipients catch up on messages from history');
    }
  }

  /**
   * Consumes this server's own delivery topic into `inbox`. Its consumer group remembers the
   * position across restarts, so what was published while the server was down reaches whoever
   * reconnected to it (deliveries duplicate what a resume replays; clients dedupe by id). A record
   * that does not decode throws, and the bus parks it.
   */
  consume(serverId: string, inbox: ServerInbox): Subscription {
    const hold = this.opts.holdDeliveries;
    const target: ServerInbox = hold
      ? {
          counter: inbox.counter,
          deliveries: (ds, path) => hold(() => inbox.deliveries(ds, path)),
          events: (es) => inbox.events(es),
          presences: (ps) => inbox.presences(ps),
          connectionsChanged: (us) => inbox.connectionsChanged(us),
        }
      : inbox;
    return this.opts.bus.subscribe(deliveryTopic(serverId), (record) => dispatchBatch(target, RelayBatch.decode(record.payload), 'fallback'), { group: `delivery.${serverId}` });
  }
}
