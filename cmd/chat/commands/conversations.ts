import { ListConversationsResponse } from '../../../gen/chat/v1/history';
import type { CliContext } from '../cli-context';
import { formatConversation } from '../output';

/** Options of `chat conversations`. */
export interface ConversationsOptions {
  limit?: number;
  before?: string;
}

/** `chat conversations [--limit N] [--before MESSAGE_ID]`: my conversations, newest first. */
export async function conversationsCommand(ctx: CliContext, opts: ConversationsOptions): Promise<void> {
  const api = await ctx.api();
  const page = await api.listConversations({ limit: opts.limit ?? 0, beforeMessageId: opts.before ?? '0' });
  ctx.out.result(page.conversations.map(formatConversation), ListConversationsResponse.toJSON(page));
  if (ctx.out.json) return;
  const last = page.conversations.at(-1)?.lastMessage;
  if (page.conversations.length === 0) ctx.out.note('(no conversations)');
  else if (page.hasMore && last) ctx.out.note(`older conversations: chat conversations --before ${last.messageId}`);
}
