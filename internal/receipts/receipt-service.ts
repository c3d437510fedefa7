import { ReceiptKind, type ConversationSummary } from '../../gen/chat/v1/message';
import type { Principal } from '../auth/principal';
import type { Bus } from '../bus/bus';
import type { ConversationAccess } from '../chat/conversation-access';
import { parseConversationId } from '../conversation/conversation-id';
import { publishEphemeral } from '../ephemeral/ephemeral-events';
import { ChatError } from '../errors/chat-error';
import type { MessageStore } from '../history/message-store';
import { mapConcurrent } from '../cassandra/map-concurrent';
import { MAX_STORABLE_ID } from '../snowflake/storable-id';
import type { ReceiptStore, Watermarks } from './receipt-store';

/** The message reads receipts need: the store in `chatd`, the HistoryService client in the mesh. */
export type ReceiptMessageReader = Pick<MessageStore, 'listMessages'>;

export interface ReceiptServiceOptions {
  store: ReceiptStore;
  messages: ReceiptMessageReader;
  access: ConversationAccess;
  bus: Bus;
  /** Unread counts stop at this many (CHAT_MAX_PAGE_SIZE: one page read per conversation). */
  maxUnreadCount: number;
}

/** Conversations summarized in parallel by {@link ReceiptService.summarize}. */
const SUMMARIES_IN_FLIGHT = 16;

/**
 * Delivered and read receipts as per-user watermarks: stored in the ReceiptStore, pushed through
 * the bus (`chat.ephemeral.v1`) to the devices that should see them, and folded into the
 * conversation list as unread counts. In a DM both participants' devices get each `receipt`; in a
 * group a member's READ goes to its own devices as a `receipt` and to every member as one
 * `receipt_summary` (how many have read that message), and DELIVERED is only stored.
 */
export class ReceiptService {
  constructor(private readonly opts: ReceiptServiceOptions) {}

  /**
   * Marks the conversation read up to `messageId` (a decimal id) for `reader`. Throws
   * INVALID_ARGUMENT, PERMISSION_DENIED (not a participant) or NOT_FOUND (no such message).
   */
  async read(reader: Principal, conversationId: string, messageId: string, originSessionId: string): Promise<void> {
    const id = parseMessageId(messageId);
    const participants = await this.opts.access.participants(reader, conversationId);
    const found = (await this.opts.messages.listMessages({ conversationId, afterId: id - 1n, limit: 1 })).messages[0];
    if (found?.messageId !== id.toString()) throw ChatError.notFound(`no message ${messageId} in ${conversationId}`);
    if (!(await this.opts.store.advance(conversationId, reader.id, ReceiptKind.RECEIPT_KIND_READ, id))) return;

    const receipt = { conversationId, userId: reader.id, kind: ReceiptKind.RECEIPT_KIND_READ, upToMessageId: messageId };
    if (parseConversationId(conversationId).kind === 'dm') {
      await publishEphemeral(this.opts.bus, conversationId, { recipientIds: participants, excludeSessionId: originSessionId, event: { $case: 'receipt', value: receipt } });
      return;
    }
    await publishEphemeral(this.opts.bus, conversationId, { recipientIds: [reader.id], excludeSessionId: originSessionId, event: { $case: 'receipt', value: receipt } });
    const marks = await this.opts.store.conversation(conversationId);
    const others = participants.filter((u) => u !== found.senderId);
    const count = others.filter((u) => (marks.get(u)?.read ?? 0n) >= id).length;
    await publishEphemeral(this.opts.bus, conversationId, {
      recipientIds: participants,
      excludeSessionId: '',
      event: { $case: 'receiptSummary', value: { conversationId, kind: ReceiptKind.RECEIPT_KIND_READ, upToMessageId: messageId, count, memberCount: others.length } },
    });
  }

  /**
   * Advances the user's DELIVERED watermarks to what one of its devices acknowledged (the gateway
   * passes only messages it delivered to that device, so no access check is repeated here), and
   * pushes a `receipt` to both parties of each DM whose watermark moved.
   */
  async delivered(userId: string, upTo: ReadonlyMap<string, bigint>): Promise<void> {
    for (const [conversationId, id] of upTo) {
      if (!(await this.opts.store.advance(conversationId, userId, ReceiptKind.RECEIPT_KIND_DELIVERED, id))) continue;
      const ref = parseConversationId(conversationId);
      if (ref.kind !== 'dm') continue;
      await publishEphemeral(this.opts.bus, conversationId, {
        recipientIds: [...ref.members],
        excludeSessionId: '',
        event: { $case: 'receipt', value: { conversationId, userId, kind: ReceiptKind.RECEIPT_KIND_DELIVERED, upToMessageId: id.toString() } },
      });
    }
  }

  /**
   * Fills the receipt fields of a page of `userId`'s conversation list: the unread count (messages
   * from others past the user's READ watermark, up to maxUnreadCount), the user's READ watermark,
   * and how far every other participant has received and read.
   */
  async summarize(userId: string, conversations: readonly ConversationSummary[]): Promise<ConversationSummary[]> {
    const own = await this.opts.store.ofUser(userId, conversations.map((c) => c.conversationId));
    const viewer: Principal = { kind: 'user', id: userId };
    return mapConcurrent(conversations, SUMMARIES_IN_FLIGHT, async (c) => {
      const read = own.get(c.conversationId)?.read ?? 0n;
      const [unreadCount, others] = await Promise.all([this.unread(userId, c, read), this.othersWatermarks(viewer, c.conversationId)]);
      return {
        ...c,
        unreadCount,
        readUpToMessageId: read.toString(),
        othersDeliveredUpToMessageId: others.delivered.toString(),
        othersReadUpToMessageId: others.read.toString(),
      };
    });
  }

  private async unread(userId: string, c: ConversationSummary, read: bigint): Promise<number> {
    const last = c.lastMessage;
    if (!last || BigInt(last.messageId) <= read) return 0;
    const page = await this.opts.messages.listMessages({ conversationId: c.conversationId, afterId: read, limit: this.opts.maxUnreadCount });
    return page.messages.filter((m) => m.senderId !== userId).length;
  }

  /** The smallest watermarks among the other participants (0 when one has none). */
  private async othersWatermarks(viewer: Principal, conversationId: string): Promise<Watermarks> {
    let participants: string[];
    try {
      participants = await this.opts.access.participants(viewer, conversationId);
    } catch (err) {
      if (err instanceof ChatError) return { delivered: 0n, read: 0n };
      throw err;
    }
    const marks = await this.opts.store.conversation(conversationId);
    const others = participants.filter((u) => u !== viewer.id);
    if (others.length === 0) return { delivered: 0n, read: 0n };
    const min = (pick: (w: Watermarks) => bigint) => others.reduce((m, u) => {
      const v = pick(marks.get(u) ?? { delivered: 0n, read: 0n });
      return v < m ? v : m;
    }, MAX_STORABLE_ID);
    return { delivered: min((w) => w.delivered), read: min((w) => w.read) };
  }
}

function parseMessageId(value: string): bigint {
  if (!/^[0-9]{1,20}$/.test(value) || BigInt(value) < 1n || BigInt(value) > MAX_STORABLE_ID) {
    throw ChatError.invalidArgument(`message_id must be a message id, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  return BigInt(value);
}
