import type { ChatMessage } from '../../gen/chat/v1/message';

/**
 * SendClaims makes a send idempotent before it reaches the message log: the first message
 * accepted for a (sender, client_msg_id) claims that key, and a retry gets the claimant back, so
 * it is answered with the original message id instead of becoming a second message (memory in
 * tests, Redis in the mesh; `chatd` needs none, its store dedupes on append).
 *
 * Guarantees implementers keep:
 * - `claim` is atomic: of concurrent claims of one key exactly one wins, and every call returns
 *   the winner's message (the caller's own when it won), for as long as the claim lives.
 * - A claim lives at least `ttlMs` (configured per adapter); afterwards the key is free again.
 */
export interface SendClaims {
  claim(message: ChatMessage): Promise<ChatMessage>;
}

/** The claim key of a message: its sender and client message id, unambiguously joined. */
export function claimKey(message: Pick<ChatMessage, 'senderId' | 'clientMsgId'>): string {
  // User ids cannot contain ':' (conversation-id.ts), so the first ':' separates the two parts.
  return `${message.senderId}:${message.clientMsgId}`;
}
