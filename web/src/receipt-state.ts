import { ReceiptKind, type ConversationSummary, type Receipt, type ReceiptSummary } from '../../gen/chat/v1/message';
import type { ConversationState } from './app-state';

/**
 * How receipts change a conversation's state. Watermarks only move forward, so every update
 * keeps the maximum and frames may arrive in any order or twice.
 */

/** The receipt fields of a ListConversations entry. */
export function applyConversationSummary(conv: ConversationState, summary: ConversationSummary): void {
  conv.unread = summary.unreadCount;
  conv.myRead = max(conv.myRead, BigInt(summary.readUpToMessageId));
  conv.othersDelivered = max(conv.othersDelivered, BigInt(summary.othersDeliveredUpToMessageId));
  conv.othersRead = max(conv.othersRead, BigInt(summary.othersReadUpToMessageId));
}

/** A `receipt`: the peer's marks, or this user's READ from another device (unread recounted). */
export function applyReceipt(conv: ConversationState, r: Receipt, me: string): void {
  const upTo = BigInt(r.upToMessageId);
  if (r.userId === me) {
    if (r.kind !== ReceiptKind.RECEIPT_KIND_READ) return;
    conv.myRead = max(conv.myRead, upTo);
    conv.unread = conv.messages.filter((m) => m.senderId !== me && BigInt(m.messageId) > conv.myRead).length;
    return;
  }
  conv.othersDelivered = max(conv.othersDelivered, upTo);
  if (r.kind === ReceiptKind.RECEIPT_KIND_READ) conv.othersRead = max(conv.othersRead, upTo);
}

/** A group's `receipt_summary`: how many have read up to a message. */
export function applyReceiptSummary(conv: ConversationState, r: ReceiptSummary): void {
  conv.readBy.set(r.upToMessageId, { count: r.count, of: r.memberCount });
  if (r.count >= r.memberCount) conv.othersRead = max(conv.othersRead, BigInt(r.upToMessageId));
}

export function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
