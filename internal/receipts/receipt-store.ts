import { ReceiptKind } from '../../gen/chat/v1/message';

/** One user's watermarks in one conversation; 0n means "none yet". */
export interface Watermarks {
  delivered: bigint;
  read: bigint;
}

/** The kinds a store keeps: DELIVERED (advanced by `ack`) and READ (advanced by `read`). */
export type StoredReceiptKind = ReceiptKind.RECEIPT_KIND_DELIVERED | ReceiptKind.RECEIPT_KIND_READ;

/** One watermark to move: `advance`'s arguments, for {@link ReceiptStore.advanceMany}. */
export interface ReceiptAdvance {
  conversationId: string;
  userId: string;
  kind: StoredReceiptKind;
  messageId: bigint;
}

/**
 * ReceiptStore keeps per-user watermarks per conversation (SQLite in `chatd`, Cassandra in the
 * mesh): the newest message a user's devices received (DELIVERED) and the newest it read (READ).
 * One row per (conversation, user), never one per message.
 *
 * Guarantees implementers keep:
 * - `advance` keeps the maximum: a watermark never moves backwards, whatever order calls arrive
 *   in, also from several processes. It resolves once the new value is durable, with `true` when
 *   this call raised it and `false` when it was already at or past `messageId` (two racing calls
 *   may both answer `true`; receipts are idempotent, so that only repeats an event).
 * - `advanceMany` keeps the same maximum for many watermarks in one call (a chat server's flush of
 *   DELIVERED acks), entries of one (conversation, user, kind) applied in their order, and answers
 *   one flag per entry in order. `false` is exact, as in `advance`. `true` means this call raised
 *   it, or, in an adapter that remembers watermarks instead of reading them before each write
 *   (Cassandra), that another process may have raised it further first: a repeated receipt, which
 *   is harmless since receipts are watermarks. Every entry is validated before any is written;
 *   after a later failure some entries may have moved (retrying is safe).
 * - DELIVERED and READ move independently.
 * - Ids are storable ids (0..2^63-1); others reject with a RangeError.
 * - `conversation` reads one partition (the conversation's); `ofUser` one point read per
 *   conversation asked for.
 */
export interface ReceiptStore {
  advance(conversationId: string, userId: string, kind: StoredReceiptKind, messageId: bigint): Promise<boolean>;
  advanceMany(entries: readonly ReceiptAdvance[]): Promise<boolean[]>;
  /** Every user with a watermark in the conversation. */
  conversation(conversationId: string): Promise<Map<string, Watermarks>>;
  /** The user's watermarks in each of the given conversations that has any. */
  ofUser(userId: string, conversationIds: readonly string[]): Promise<Map<string, Watermarks>>;
  close(): Promise<void>;
}
