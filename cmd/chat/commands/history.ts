import { ListMessagesResponse } from '../../../gen/chat/v1/history';
import type { CliContext } from '../cli-context';
import { conversationTarget } from '../conversation-target';
import { formatMessage } from '../output';

/** Options of `chat history`. */
export interface HistoryOptions {
  limit?: number;
  before?: string;
}

/**
 * `chat history <conversation|user> [--limit N] [--before ID]`: prints one page of messages older
 * than ID (the newest without it), oldest first, and on stderr how to read the page before it.
 */
export async function historyCommand(ctx: CliContext, target: string, opts: HistoryOptions): Promise<void> {
  const { userId } = await ctx.identity();
  const conversationId = conversationTarget(target, userId);
  const api = await ctx.api();
  const page = await api.listMessages({ conversationId, beforeId: opts.before ?? '0', limit: opts.limit ?? 0 });
  const oldestFirst = [...page.messages].reverse(); // a backward page comes newest first
  ctx.out.result(oldestFirst.map(formatMessage), ListMessagesResponse.toJSON(page));
  if (ctx.out.json) return;
  const oldest = oldestFirst[0];
  if (!oldest) ctx.out.note('(no messages)');
  else if (page.hasMore) {
    const limit = opts.limit ? ` --limit ${opts.limit}` : '';
    ctx.out.note(`older messages: chat history ${target} --before ${oldest.messageId}${limit}`);
  } else ctx.out.note('(start of conversation)');
}
