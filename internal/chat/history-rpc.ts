import { HistoryServiceDefinition, type Watermarks } from '../../gen/chat/v1/history';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { ChatError } from '../errors/chat-error';
import type { MessageStore } from '../history/message-store';
import type { ReceiptStore, Watermarks as StoredWatermarks } from '../receipts/receipt-store';
import { actingUser, required } from '../rpc/acting-user';
import { unaryMethods, type UnaryMethod } from '../rpc/unary-method';
import type { HistoryQueries } from './history-queries';
import { parseCursor } from './page-query';

/** The store calls behind the internal HistoryService RPCs. */
export type HistoryBackend = Pick<MessageStore, 'append' | 'hasConversation' | 'saveDeviceCursors' | 'loadDeviceCursors'>;

/** HistoryService RPCs: public reads through the access rules, internal calls for services. */
export function historyRpc(queries: HistoryQueries, store: HistoryBackend, receipts: ReceiptStore): UnaryMethod[] {
  return unaryMethods(HistoryServiceDefinition, {
    appendMessage: {
      access: 'internal',
      handle: async (req) => {
        if (!req.message) throw ChatError.invalidArgument('message is required');
        return { created: (await store.append(req.message, req.participantIds)).created };
      },
    },
    listMessages: { access: 'public', handle: (req, caller) => queries.history(caller, req) },
    listConversations: {
      access: 'public',
      handle: (req, caller) => queries.conversations(actingUser(caller, req.userId), req.limit, req.beforeMessageId),
    },
    hasConversation: {
      access: 'internal',
      handle: async (req) => ({ hasConversation: await store.hasConversation(required(req.userId, 'user_id'), required(req.conversationId, 'conversation_id')) }),
    },
    saveDeviceCursors: {
      access: 'internal',
      handle: async (req) => {
        const cursors = new Map<string, bigint>();
        for (const c of req.cursors) cursors.set(required(c.conversationId, 'conversation_id'), parseCursor(c.messageId, 'message_id') ?? 0n);
        await store.saveDeviceCursors(required(req.userId, 'user_id'), required(req.deviceId, 'device_id'), cursors);
        return {};
      },
    },
    getDeviceCursors: {
      access: 'internal',
      handle: async (req) => {
        const saved = await store.loadDeviceCursors(required(req.userId, 'user_id'), required(req.deviceId, 'device_id'));
        return { cursors: [...saved].map(([conversationId, id]) => ({ conversationId, messageId: id.toString() })) };
      },
    },
    advanceReceipt: {
      access: 'internal',
      handle: async (req) => {
        if (req.kind !== ReceiptKind.RECEIPT_KIND_DELIVERED && req.kind !== ReceiptKind.RECEIPT_KIND_READ) throw ChatError.invalidArgument('kind must be DELIVERED or READ');
        const id = parseCursor(req.messageId, 'message_id') ?? 0n;
        return { advanced: await receipts.advance(required(req.conversationId, 'conversation_id'), required(req.userId, 'user_id'), req.kind, id) };
      },
    },
    getConversationReceipts: {
      access: 'internal',
      handle: async (req) => ({ watermarks: toWatermarks(await receipts.conversation(required(req.conversationId, 'conversation_id')), 'userId') }),
    },
    getUserReceipts: {
      access: 'internal',
      handle: async (req) => ({ watermarks: toWatermarks(await receipts.ofUser(required(req.userId, 'user_id'), req.conversationIds), 'conversationId') }),
    },
  });
}

function toWatermarks(marks: ReadonlyMap<string, StoredWatermarks>, keyField: 'userId' | 'conversationId'): Watermarks[] {
  return [...marks].map(([key, w]) => ({ userId: '', conversationId: '', [keyField]: key, deliveredUpTo: w.delivered.toString(), readUpTo: w.read.toString() }));
}
