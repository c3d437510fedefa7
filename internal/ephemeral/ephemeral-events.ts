import type { EphemeralEvent } from '../../gen/chat/v1/ephemeral';
import type { ConnectResponse } from '../../gen/chat/v1/gateway';
import type { ConnectionRegistry } from '../gateway/connection-registry';

/** The server frame an event is pushed as; undefined for an event with no known case. */
export function ephemeralFrame(event: EphemeralEvent): ConnectResponse | undefined {
  const e = event.event;
  switch (e?.$case) {
    case 'typing':
      return { requestId: '', frame: { $case: 'typing', value: e.value } };
    case 'receipt':
      return { requestId: '', frame: { $case: 'receipt', value: e.value } };
    case 'receiptSummary':
      return { requestId: '', frame: { $case: 'receiptSummary', value: e.value } };
    default:
      return undefined;
  }
}

/**
 * Pushes each event to this server's connections of its recipients, except the session that
 * caused it; an event of no known case (from a newer sender) is dropped. The events are already
 * authorized by whoever published them.
 */
export function pushEphemeral(registry: Pick<ConnectionRegistry, 'deliverEphemeral'>, events: readonly EphemeralEvent[]): void {
  for (const event of events) {
    const frame = ephemeralFrame(event);
    if (frame) registry.deliverEphemeral(frame, event.recipientIds, event.excludeSessionId);
  }
}
