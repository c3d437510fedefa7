import type { EphemeralEvent } from '../../gen/chat/v1/ephemeral';
import type { UserPresence } from '../../gen/chat/v1/message';
import type { RelayBatch, RelayDelivery } from '../../gen/chat/v1/relay';
import type { DeliveryPath, InboxItemKind } from '../telemetry/metrics';

/** How a batch reached the server: a peer's relay stream, or the server's own delivery topic. */
export type RemotePath = Exclude<DeliveryPath, 'local'>;

/** Counts the items an inbox is handed, by kind and path (ChatMetrics.inboxItems fits). */
export interface InboxItemCounter {
  inc(labels: { kind: InboxItemKind; path: RemotePath }, value: number): void;
}

/**
 * What a chat server does with the RelayBatches sent to it, from either path: the relay streams of
 * its peers and its Kafka delivery topic (peers whose relay failed, and the session service). One
 * inbox serves both, so what arrives is handled alike whichever way it came. Every part is meant
 * for this server's connections only (the sender located them). Handlers run in the turn that
 * received the batch, before the relay acknowledges it or the topic commits it, and do not throw:
 * a batch is acknowledged once, and a throw would redeliver the parts already handled.
 */
export interface ServerInbox {
  /** Messages for some users connected here (push them, except to `excludeSessionId`). */
  deliveries(deliveries: readonly RelayDelivery[], path: RemotePath): void;
  /** Typing indicators and receipts; `recipientIds` are users connected here. */
  events(events: readonly EphemeralEvent[]): void;
  /** Presence changes of users that connections here watch (from the session service). */
  presences(presences: readonly UserPresence[]): void;
  /** Users whose connections changed, among those this server located (from the session service). */
  connectionsChanged(userIds: readonly string[]): void;
  /** Where {@link dispatchBatch} counts what it hands over (the server's metrics); none: not counted. */
  readonly counter?: InboxItemCounter;
}

/**
 * Hands every non-empty part of `batch` to `inbox`: location changes first (so what follows is
 * routed on fresh locations), then presences, then events, then deliveries. Each part keeps its
 * order; between parts of one batch the wire keeps none, and events go before deliveries because
 * they were usually caused before them: a typing indicator pushed after the message it announced
 * would show again on a client that cleared it when the message came.
 *
 * Each part is counted into `inbox.counter` as it is handed over: one increment per kind present,
 * by the number of items (a delivery is one item whatever its recipients), so the count costs a
 * few calls per batch, not one per item.
 */
export function dispatchBatch(inbox: ServerInbox, batch: RelayBatch, path: RemotePath): void {
  const { connectionsChanged, presences, events, deliveries } = batch;
  const counter = inbox.counter;
  if (connectionsChanged.length > 0) {
    counter?.inc({ kind: 'connections_changed', path }, connectionsChanged.length);
    inbox.connectionsChanged(connectionsChanged);
  }
  if (presences.length > 0) {
    counter?.inc({ kind: 'presence', path }, presences.length);
    inbox.presences(presences);
  }
  if (events.length > 0) {
    counter?.inc({ kind: 'event', path }, events.length);
    inbox.events(events);
  }
  if (deliveries.length > 0) {
    counter?.inc({ kind: 'delivery', path }, deliveries.length);
    inbox.deliveries(deliveries, path);
  }
}
