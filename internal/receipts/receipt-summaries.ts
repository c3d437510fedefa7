import type { ConversationSummary } from '../../gen/chat/v1/message';
import type { Principal } from '../auth/principal';
import { mapConcurrent } from '../cassandra/map-concurrent';
import type { ConversationAccess } from '../chat/conversation-access';
import { ChatError } from '../errors/chat-error';
import { MAX_STORABLE_ID } from '../snowflake/storable-id';
import type { ReceiptMessageReader } from './receipt-service';
import type { ReceiptStore, Watermarks } from './receipt-store';

export interface ReceiptSummariesOptions {
  store: Pick<ReceiptStore, 'ofUser' | 'conversation'>;
  messages: ReceiptMessageReader;
  access: ConversationAccess;
  /** Unread counts stop at this many (CHAT_MAX_PAGE_SIZE: one page read per conversation). */
  maxUnreadCount: number;
}

/** Conversations summarized in parallel by {@link ReceiptSummaries.summarize}. */
const SUMMARIES_IN_FLIGHT = 16;

/**
 * The receipt side of a conversation list: read-only, so the history service can serve it without
 * the EphemeralPublisher that {@link ReceiptService} pushes receipts through.
 */
export class ReceiptSummaries {
  constructor(private readonly opts: ReceiptSummariesOptions) {}

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
