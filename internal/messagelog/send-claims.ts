import type { ChatMessage } from '../../gen/chat/v1/message';

/** What a claim answers. */
export type ClaimResult =
  /**
   * The key's message, numbered: the caller's own draft when it won, the original for a retry;
   * `appended` when an earlier attempt's append to the log is known to have succeeded.
   */
  | { message: ChatMessage; appended?: boolean }
  /**
   * Nothing was claimed or numbered: the conversation already has a message whose id is not below
   * the draft's (another chat server's clock runs ahead). The caller retries with an id above `newestId`.
   */
  | { behind: bigint };

/**
 * SendClaims makes a send idempotent before it reaches the message log, and is the mesh's
 * sequencer of each conversation (memory in tests, Redis in the mesh; `chatd` needs none, its
 * store dedupes and numbers on append).
 *
 * Guarantees implementers keep:
 * - `claim` is atomic: of concurrent claims of one key exactly one wins, and every call returns
 *   the winner's message (the caller's own when it won), for as long as the claim lives.
 * - The winner is numbered in the same atomic step: `seq` is the conversation's previous seq + 1,
 *   and `epoch` the conversation's current run (the id of its first message numbered since the
 *   sequencer last had no state for it). A retry gets the original numbers back, so a retried send
 *   never leaves a hole or takes a second number.
 * - Within an epoch ids grow with seq: a draft whose id is not above the newest id numbered in its
 *   conversation is refused with `behind` (nothing claimed).
 * - A claim lives at least `ttlMs`, a conversation's numbering at least `sequenceTtlMs` after its
 *   last message (configured per adapter); afterwards the key is free again, and numbering of an
 *   idle conversation starts a new epoch.
 */
export interface SendClaims {
  claim(draft: ChatMessage): Promise<ClaimResult>;
  /**
   * Notes that the claimed message is in the log, so a retry need not be delivered again (its
   * first attempt was, unless its server died first, which the recipients' positions show). Best
   * effort: a note that is lost only costs a redelivery.
   */
  appended(message: ChatMessage): Promise<void>;
}

/** The claim key of a message: its sender and client message id, unambiguously joined. */
export function claimKey(message: Pick<ChatMessage, 'senderId' | 'clientMsgId'>): string {
  // User ids cannot contain ':' (conversation-id.ts), so the first ':' separates the two parts.
  return `${message.senderId}:${message.clientMsgId}`;
}
