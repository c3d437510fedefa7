import type { ConversationSummary } from '../../gen/chat/v1/message';
import type { Principal } from '../auth/principal';
import { parseConversationId } from '../conversation/conversation-id';
import { ChatError } from '../errors/chat-error';
import type { MessagePage, MessageReader } from '../history/message-store';
import type { ConversationAccess } from './conversation-access';
import { pageLimit, parseCursor } from './page-query';

export interface PageLimits {
  defaultPageSize: number;
  maxPageSize: number;
}

export interface HistoryRequest {
  conversationId: string;
  beforeId: string;
  afterId: string;
  limit: number;
}

/**
 * History reads through the access rules: pages of a conversation, and a user's conversation
 * list. Served by `chatd` and the history service over the store, and by chat servers over the
 * HistoryService client.
 */
export class HistoryQueries {
  constructor(
    private readonly reader: MessageReader,
    private readonly access: ConversationAccess,
    private readonly limits: PageLimits,
  ) {}

  async history(caller: Principal, req: HistoryRequest): Promise<MessagePage> {
    await this.access.checkRead(caller, req.conversationId);
    return this.read(req);
  }

  /**
   * A page for a service that checked access itself (ListMessagesBatch, the chat server's resume
   * replays): the same validation and limits as {@link history}, without asking who may read.
   */
  async checkedPage(req: HistoryRequest): Promise<MessagePage> {
    parseConversationId(req.conversationId);
    return this.read(req);
  }

  private read(req: HistoryRequest): Promise<MessagePage> {
    const beforeId = parseCursor(req.beforeId, 'before_id');
    const afterId = parseCursor(req.afterId, 'after_id');
    if (beforeId !== undefined && afterId !== undefined) throw ChatError.invalidArgument('set at most one of before_id and after_id');
    return this.reader.listMessages({ conversationId: req.conversationId, beforeId, afterId, limit: pageLimit(req.limit, this.limits) });
  }

  /**
   * The user's conversations, newest first; groups the user has left are omitted. The store
   * lists them (a leave does not rewrite the user's list), so pages are refilled past them:
   * a page is short only at the end, and `hasMore` stays exact.
   */
  async conversations(user: Principal, limit: number, beforeMessageId: string): Promise<{ conversations: ConversationSummary[]; hasMore: boolean }> {
    const want = pageLimit(limit, this.limits);
    const out: ConversationSummary[] = [];
    let before = parseCursor(beforeMessageId, 'before_message_id');
    for (;;) {
      const page = await this.reader.listConversations(user.id, want, before);
      const checks = await Promise.all(page.conversations.map((c) => this.stillParticipant(user, c.conversationId)));
      for (const [i, c] of page.conversations.entries()) {
        if (!checks[i]) continue;
        if (out.length === want) return { conversations: out, hasMore: true };
        out.push(c);
      }
      const last = page.conversations.at(-1)?.lastMessage;
      if (!page.hasMore || !last) return { conversations: out, hasMore: false };
      before = BigInt(last.messageId);
    }
  }

  private async stillParticipant(user: Principal, conversationId: string): Promise<boolean> {
    if (parseConversationId(conversationId).kind === 'dm') return true;
    try {
      await this.access.participants(user, conversationId);
      return true;
    } catch (err) {
      if (err instanceof ChatError) return false;
      throw err;
    }
  }
}
