import type { EphemeralEvent } from '../../gen/chat/v1/ephemeral';

/**
 * Where typing indicators and receipts go once their service has authorized them: to the
 * connected devices of `event.recipientIds`, wherever they are connected, except the session
 * `event.excludeSessionId`. Adapters: LocalEphemeralPublisher (`chatd`, one process) and
 * MeshEphemeralPublisher (a chat server of the mesh, where only the servers holding a recipient
 * hear of the event).
 *
 * Guarantees implementers keep:
 * - Best effort, nothing stored: a lost event costs one indicator or one tick, which the next
 *   event or the conversation list restores.
 * - The publishing process's own connections get the event before `publish` returns.
 * - Events of one conversation published by one process reach each device in publish order (a
 *   group's read summaries count up), unless a relay failure sends some of them through the
 *   fallback meanwhile.
 * - An event with no recipients is a no-op. `publish` rejects only when the recipients could not
 *   be located; the devices of the publishing process got the event all the same.
 */
export interface EphemeralPublisher {
  publish(conversationId: string, event: EphemeralEvent): Promise<void>;
}
