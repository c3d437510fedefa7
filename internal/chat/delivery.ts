import type { ChatMessage } from '../../gen/chat/v1/message';

/**
 * Delivery pushes a stored message to the live devices of its recipients. `chatd` delivers to its
 * own connections; a chat server in the mesh also relays to the servers holding the others.
 * Best effort and at-least-once: a device that misses a push catches up from history on resume,
 * so `deliver` never throws and never blocks the sender's acknowledgement.
 */
export interface Delivery {
  deliver(message: ChatMessage, recipientIds: readonly string[], excludeSessionId?: string): void;
}
