import { HistoryServiceDefinition, type AdvanceReceiptRequest, type DeviceCursor, type Watermarks } from '../../gen/chat/v1/history';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { mapConcurrent } from '../cassandra/map-concurrent';
import { ChatError } from '../errors/chat-error';
import { laterCursor, type DeviceCursor as StoredCursor, type MessageStore } from '../history/message-store';
import type { ReceiptAdvance, ReceiptStore, Watermarks as StoredWatermarks } from '../receipts/receipt-store';
import { actingUser, required } from '../rpc/acting-user';
import { unaryMethods, type UnaryMethod } from '../rpc/unary-method';
import { IdBehind } from '../snowflake/id-behind';
import { MAX_STORABLE_ID } from '../snowflake/storable-id';
import type { HistoryQueries } from './history-queries';
import { parseCursor } from './page-query';

/** The store calls behind the internal HistoryService RPCs. */
export type HistoryBackend = Pick<MessageStore, 'append' | 'hasConversation' | 'saveDeviceCursors' | 'loadDeviceCursors'>;

/**
 * Devices a batch call reads or writes in parallel: one store call each (a partition per device in
 * Cassandra), bounded so one chat server's flush does not take every connection's request slots.
 */
const DEVICES_IN_FLIGHT = 32;

/** The bounds of ListMessagesBatch (CHAT_HISTORY_BATCH_MAX_PAGES, CHAT_HISTORY_BATCH_CONCURRENCY). */
export interface HistoryBatchLimits {
  historyBatchMaxPages: number;
  historyBatchConcurrency: number;
}

/** HistoryService RPCs: public reads through the access rules, internal calls for services. */
export function historyRpc(queries: HistoryQueries, store: HistoryBackend, receipts: ReceiptStore, limits: HistoryBatchLimits): UnaryMethod[] {
  return unaryMethods(HistoryServiceDefinition, {
    appendMessage: {
      access: 'internal',
      handle: async (req) => {
        if (!req.message) throw ChatError.invalidArgument('message is required');
        try {
          return { created: (await store.append(req.message, req.participantIds)).created };
        } catch (err) {
          // A store that numbers (chatd's) takes only ids above the conversation's newest.
          if (err instanceof IdBehind) throw ChatError.invalidArgument(`message_id must be above ${err.newestId}, the newest id of the conversation`);
          // An id, seq or epoch the store cannot hold.
          if (err instanceof RangeError) throw ChatError.invalidArgument(err.message);
          throw err;
        }
      },
    },
    listMessages: { access: 'public', handle: (req, caller) => queries.history(caller, req) },
    listMessagesBatch: {
      access: 'internal',
      handle: async (req) => {
        if (req.pages.length > limits.historyBatchMaxPages) throw ChatError.invalidArgument(`at most ${limits.historyBatchMaxPages} pages per call (CHAT_HISTORY_BATCH_MAX_PAGES), got ${req.pages.length}`);
        // A page fails alone with its ChatError (a bad id, storage unavailable); anything else is a
        // bug, which fails the call and is logged with it.
        const pages = await mapConcurrent(req.pages, limits.historyBatchConcurrency, (q) =>
          queries.checkedPage(q).then(
            (page) => ({ ...page, errorCode: ErrorCode.ERROR_CODE_UNSPECIFIED, errorMessage: '' }),
            (err: unknown) => {
              if (!(err instanceof ChatError)) throw err;
              return { messages: [], hasMore: false, errorCode: err.code, errorMessage: err.message };
            },
          ),
        );
        return { pages };
      },
    },
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
        await store.saveDeviceCursors(required(req.userId, 'user_id'), required(req.deviceId, 'device_id'), fromWireCursors(req.cursors));
        return {};
      },
    },
    saveDeviceCursorsBatch: {
      access: 'internal',
      handle: async (req) => {
        // Every entry is validated before any is written.
        const devices = req.devices.map((d) => ({ userId: required(d.userId, 'user_id'), deviceId: required(d.deviceId, 'device_id'), cursors: fromWireCursors(d.cursors) }));
        await mapConcurrent(devices, DEVICES_IN_FLIGHT, (d) => store.saveDeviceCursors(d.userId, d.deviceId, d.cursors));
        return {};
      },
    },
    getDeviceCursors: {
      access: 'internal',
      handle: async (req) => ({ cursors: toWireCursors(await store.loadDeviceCursors(required(req.userId, 'user_id'), required(req.deviceId, 'device_id'))) }),
    },
    getDeviceCursorsBatch: {
      access: 'internal',
      handle: async (req) => {
        const devices = req.devices.map((d) => ({ userId: required(d.userId, 'user_id'), deviceId: required(d.deviceId, 'device_id') }));
        const saved = await mapConcurrent(devices, DEVICES_IN_FLIGHT, (d) => store.loadDeviceCursors(d.userId, d.deviceId));
        return { devices: saved.map((cursors) => ({ cursors: toWireCursors(cursors) })) };
      },
    },
    advanceReceipt: {
      access: 'internal',
      handle: async (req) => {
        const e = fromWireAdvance(req);
        return { advanced: await receipts.advance(e.conversationId, e.userId, e.kind, e.messageId) };
      },
    },
    advanceReceipts: {
      access: 'internal',
      handle: async (req) => ({ advanced: await receipts.advanceMany(req.receipts.map(fromWireAdvance)) }),
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

/** A stored position or watermark: 0..2^63-1 (what Cassandra's bigint holds), else INVALID_ARGUMENT. */
function storableId(value: string, field: string): bigint {
  const id = parseCursor(value, field) ?? 0n;
  if (id > MAX_STORABLE_ID) throw ChatError.invalidArgument(`${field} must be at most ${MAX_STORABLE_ID}, got ${value}`);
  return id;
}

/** A device's positions; a conversation named twice keeps the later one (laterCursor: the greater id, then exact). */
function fromWireCursors(cursors: readonly DeviceCursor[]): Map<string, StoredCursor> {
  const out = new Map<string, StoredCursor>();
  for (const c of cursors) {
    const conversationId = required(c.conversationId, 'conversation_id');
    out.set(conversationId, laterCursor(out.get(conversationId), { messageId: storableId(c.messageId, 'message_id'), exact: c.exact }));
  }
  return out;
}

function toWireCursors(cursors: ReadonlyMap<string, StoredCursor>): DeviceCursor[] {
  return [...cursors].map(([conversationId, c]) => ({ conversationId, messageId: c.messageId.toString(), exact: c.exact }));
}

function fromWireAdvance(req: AdvanceReceiptRequest): ReceiptAdvance {
  if (req.kind !== ReceiptKind.RECEIPT_KIND_DELIVERED && req.kind !== ReceiptKind.RECEIPT_KIND_READ) throw ChatError.invalidArgument('kind must be DELIVERED or READ');
  return { conversationId: required(req.conversationId, 'conversation_id'), userId: required(req.userId, 'user_id'), kind: req.kind, messageId: storableId(req.messageId, 'message_id') };
}

function toWatermarks(marks: ReadonlyMap<string, StoredWatermarks>, keyField: 'userId' | 'conversationId'): Watermarks[] {
  return [...marks].map(([key, w]) => ({ userId: '', conversationId: '', [keyField]: key, deliveredUpTo: w.delivered.toString(), readUpTo: w.read.toString() }));
}
