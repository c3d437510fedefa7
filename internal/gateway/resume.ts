import type { HistoryPage } from '../../gen/chat/v1/gateway';
import type { Principal } from '../auth/principal';
import { ChatError } from '../errors/chat-error';
import { parseConversationId } from '../conversation/conversation-id';
import { parseCursor } from '../chat/page-query';
import type { GatewayContext } from './gateway-context';

export interface ResumeRequest {
  ctx: GatewayContext;
  principal: Principal;
  deviceId: string;
  /** From `hello`: conversation id → newest message id the device has seen. */
  lastSeen: Record<string, string>;
  requestId: string;
}

/**
 * Replays, per conversation, what a device missed: the messages after its position, oldest first,
 * at most `resumeMaxMessages` each (has_more tells it to page on with `history`). Positions come
 * from `hello` and, for conversations it does not name, from what the device acknowledged on
 * earlier connections. Conversations the user may no longer read are skipped; bad entries are
 * reported as errors and skipped.
 *
 * This is sound on one chat server, where ids are assigned and stored in order. Across servers
 * (later), a message with a smaller id can be stored after a larger one was seen; resume there
 * needs an overlap window or per-conversation sequences (see ARCHITECTURE.md).
 */
export async function resumeConversations(req: ResumeRequest, page: (p: HistoryPage) => void, error: (e: ChatError) => void): Promise<void> {
  const { ctx, principal } = req;
  const positions = await ctx.cursors.loadDeviceCursors(principal.id, req.deviceId);
  for (const [conversationId, id] of Object.entries(req.lastSeen)) {
    try {
      parseConversationId(conversationId);
      const cursor = parseCursor(id, `last_seen[${conversationId}]`);
      if (cursor !== undefined) positions.set(conversationId, cursor);
    } catch (err) {
      error(ChatError.from(err));
    }
  }
  const max = ctx.limits.resumeMaxConversations;
  if (positions.size > max) {
    error(ChatError.limitExceeded(`resume covers at most ${max} conversations; ${positions.size - max} were not replayed (page them with history)`));
  }
  for (const [conversationId, after] of [...positions].slice(0, max)) {
    try {
      const p = await ctx.history.history(principal, { conversationId, afterId: after.toString(), beforeId: '', limit: ctx.limits.resumeMaxMessages });
      if (p.messages.length > 0) page({ conversationId, messages: p.messages, hasMore: p.hasMore });
    } catch (err) {
      const e = ChatError.from(err);
      if (e.codeName !== 'PERMISSION_DENIED' && e.codeName !== 'NOT_FOUND') error(e);
    }
  }
}
