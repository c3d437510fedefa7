import { EphemeralEvent } from '../../gen/chat/v1/ephemeral';
import type { ConnectResponse } from '../../gen/chat/v1/gateway';
import type { Bus } from '../bus/bus';

/**
 * The broadcast bus topic of typing indicators and receipts (payload: protobuf EphemeralEvent,
 * key: conversation id). Every chat server subscribes and pushes each event to its own
 * connections of the recipients, so the events reach devices on any server of the mesh.
 */
export const EPHEMERAL_TOPIC = 'chat.ephemeral.v1';

/** Publishes one event; rejects when the bus did not accept it. */
export async function publishEphemeral(bus: Bus, conversationId: string, event: EphemeralEvent): Promise<void> {
  if (event.recipientIds.length === 0) return;
  await bus.publish(EPHEMERAL_TOPIC, conversationId, EphemeralEvent.encode(event).finish());
}

export function decodeEphemeral(payload: Uint8Array): EphemeralEvent {
  return EphemeralEvent.decode(payload);
}

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
