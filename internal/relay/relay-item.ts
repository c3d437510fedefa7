import type { EphemeralEvent } from '../../gen/chat/v1/ephemeral';
import type { RelayDelivery } from '../../gen/chat/v1/relay';

/**
 * What the relay carries to one peer chat server, and hands to its delivery topic when the relay
 * cannot: a message delivery, or an ephemeral event (typing, receipt) for users connected there.
 * Both count alike against a batch's size and a peer's queue bound, and share its window, its
 * fallback and its order (see {@link batchParts} for the order within one batch).
 */
export type RelayItem = RelayDelivery | EphemeralEvent;

export function isDelivery(item: RelayItem): item is RelayDelivery {
  return 'recipientUserIds' in item;
}

/**
 * The deliveries and the events among `items`, each in the order given: the two parts of one
 * RelayBatch or delivery-topic record. The wire keeps no order between the two parts; the
 * receiver hands the events over first (server-inbox.ts).
 */
export function batchParts(items: readonly RelayItem[]): { deliveries: RelayDelivery[]; events: EphemeralEvent[] } {
  const deliveries: RelayDelivery[] = [];
  const events: EphemeralEvent[] = [];
  for (const item of items) {
    if (isDelivery(item)) deliveries.push(item);
    else events.push(item);
  }
  return { deliveries, events };
}

/** Recipient users of the deliveries among `items`: what `chat_deliveries_total` counts. */
export function deliveryRecipients(items: readonly RelayItem[]): number {
  let n = 0;
  for (const item of items) if (isDelivery(item)) n += item.recipientUserIds.length;
  return n;
}
