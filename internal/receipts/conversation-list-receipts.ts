import type { ListConversationsResponse } from '../../gen/chat/v1/history';
import type { UnaryMethod } from '../rpc/unary-method';
import type { ReceiptSummaries } from './receipt-summaries';

/**
 * Wraps HistoryService.ListConversations among `methods` so that each entry carries its receipt
 * fields (unread count, watermarks) for the user the list belongs to: the request's `user_id` when
 * a service asks on a user's behalf, else the caller. The other methods pass through unchanged.
 */
export function withConversationReceipts(methods: readonly UnaryMethod[], receipts: ReceiptSummaries): UnaryMethod[] {
  return methods.map((m) => {
    if (m.service !== 'chat.v1.HistoryService' || m.name !== 'ListConversations') return m;
    return {
      ...m,
      handle: async (req, caller) => {
        const res = (await m.handle(req, caller)) as ListConversationsResponse;
        const onBehalf = (req as { userId?: unknown }).userId;
        const userId = caller.kind === 'service' && typeof onBehalf === 'string' && onBehalf !== '' ? onBehalf : caller.id;
        return { ...res, conversations: await receipts.summarize(userId, res.conversations) };
      },
    };
  });
}
