import type { Logger } from 'pino';
import type { Send, SendAck } from '../../gen/chat/v1/gateway';
import type { ChatMessage, ConversationSummary } from '../../gen/chat/v1/message';
import type { Principal } from '../auth/principal';
import { parseConversationId } from '../conversation/conversation-id';
import { ChatError } from '../errors/chat-error';
import type { MessagePage, MessageStore } from '../history/message-store';
import type { IdSource } from '../snowflake/id-source';
import { snowflakeTime } from '../snowflake/snowflake';
import type { ConversationAccess } from './conversation-access';
import type { Delivery } from './delivery';
import { pageLimit, parseCursor } from './page-query';

export interface MessageLimits {
  maxTextBytes: number;
  defaultPageSize: number;
  maxPageSize: number;
}

export interface MessageServiceOptions {
  store: MessageStore;
  access: ConversationAccess;
  ids: IdSource;
  delivery: Delivery;
  limits: MessageLimits;
  log: Logger;
}

export interface HistoryRequest {
  conversationId: string;
  beforeId: string;
  afterId: string;
  limit: number;
}

const MAX_CLIENT_MSG_ID_BYTES = 128;

/**
 * The send path and history reads. A send is authorized, given a Snowflake id, stored durably
 * (idempotent by sender and client_msg_id) and only then acknowledged and handed to delivery.
 */
export class MessageService {
  constructor(private readonly opts: MessageServiceOptions) {}

  async send(sender: Principal, send: Send, originSessionId?: string): Promise<SendAck> {
    this.validateSend(send);
    const participants = await this.opts.access.participants(sender, send.conversationId);
    const messageId = this.opts.ids.nextString();
    const draft: ChatMessage = {
      messageId,
      conversationId: send.conversationId,
      senderId: sender.id,
      clientMsgId: send.clientMsgId,
      text: send.text,
      createdAt: snowflakeTime(messageId),
    };
    const { message, created } = await this.opts.store.append(draft, participants);
    if (created) this.opts.delivery.deliver(message, participants, originSessionId);
    else this.opts.log.debug({ clientMsgId: send.clientMsgId, messageId: message.messageId }, 'duplicate send answered with the original id');
    return { clientMsgId: message.clientMsgId, messageId: message.messageId, conversationId: message.conversationId, createdAt: message.createdAt };
  }

  async history(caller: Principal, req: HistoryRequest): Promise<MessagePage> {
    await this.opts.access.participants(caller, req.conversationId);
    const beforeId = parseCursor(req.beforeId, 'before_id');
    const afterId = parseCursor(req.afterId, 'after_id');
    if (beforeId !== undefined && afterId !== undefined) throw ChatError.invalidArgument('set at most one of before_id and after_id');
    return this.opts.store.listMessages({ conversationId: req.conversationId, beforeId, afterId, limit: pageLimit(req.limit, this.opts.limits) });
  }

  /**
   * The caller's conversations, newest first; groups the caller has left are omitted. The store
   * lists them (a leave does not rewrite the caller's list), so pages are refilled past them:
   * a page is short only at the end, and `hasMore` stays exact.
   */
  async conversations(caller: Principal, limit: number, beforeMessageId: string): Promise<{ conversations: ConversationSummary[]; hasMore: boolean }> {
    const want = pageLimit(limit, this.opts.limits);
    const out: ConversationSummary[] = [];
    let before = parseCursor(beforeMessageId, 'before_message_id');
    for (;;) {
      const page = await this.opts.store.listConversations(caller.id, want, before);
      const checks = await Promise.all(page.conversations.map((c) => this.stillParticipant(caller, c.conversationId)));
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

  private async stillParticipant(caller: Principal, conversationId: string): Promise<boolean> {
    if (parseConversationId(conversationId).kind === 'dm') return true;
    try {
      await this.opts.access.participants(caller, conversationId);
      return true;
    } catch (err) {
      if (err instanceof ChatError) return false;
      throw err;
    }
  }

  private validateSend(send: Send): void {
    parseConversationId(send.conversationId);
    const idBytes = Buffer.byteLength(send.clientMsgId, 'utf8');
    if (idBytes === 0 || idBytes > MAX_CLIENT_MSG_ID_BYTES) {
      throw ChatError.invalidArgument(`client_msg_id must be 1-${MAX_CLIENT_MSG_ID_BYTES} bytes`);
    }
    if (send.text.trim() === '') throw ChatError.invalidArgument('text must not be empty');
    const textBytes = Buffer.byteLength(send.text, 'utf8');
    if (textBytes > this.opts.limits.maxTextBytes) {
      throw ChatError.tooLarge(`text is ${textBytes} bytes; the limit is ${this.opts.limits.maxTextBytes}`);
    }
  }
}
