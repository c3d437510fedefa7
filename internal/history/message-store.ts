import type { ChatMessage, ConversationSummary } from '../../gen/chat/v1/message';

/** One page of a conversation, in the direction of paging. `hasMore` is exact. */
export interface MessagePage {
  messages: ChatMessage[];
  hasMore: boolean;
}

/**
 * A page query. With `afterId` the page goes forwards (ids strictly greater, oldest first);
 * otherwise backwards (ids strictly smaller than `beforeId`, or the newest, newest first).
 * Callers validate that at most one cursor is set and that 1 <= limit <= the configured cap.
 */
export interface PageQuery {
  conversationId: string;
  beforeId?: bigint;
  afterId?: bigint;
  limit: number;
}

export interface ConversationPage {
  conversations: ConversationSummary[];
  hasMore: boolean;
}

/** The outcome of an append: the stored message, which is the original one for a retried send. */
export interface AppendResult {
  message: ChatMessage;
  created: boolean;
  /**
   * A retry (`created` false) that this call made durable again, not knowing whether the first
   * attempt's delivery happened (the mesh's log appender: the first attempt may have failed after
   * its claim). The caller delivers it again; recipients dedupe by id. Stores never set it: there
   * a known key means the first attempt was stored and delivered.
   */
  redeliver?: boolean;
}

/** A device's resume position in one conversation. */
export interface DeviceCursor {
  messageId: bigint;
  /** True: the device holds every message up to `messageId`. False: a hint, the newest id it acknowledged. */
  exact: boolean;
}

/** Of two positions of one device in one conversation, the one to keep: the greater id, then exact over a hint. */
export function laterCursor(a: DeviceCursor | undefined, b: DeviceCursor): DeviceCursor {
  if (!a || b.messageId > a.messageId || (b.messageId === a.messageId && b.exact && !a.exact)) return b;
  return a;
}

/** One message of an {@link MessageStore.appendBatch}, with the participants whose lists it advances. */
export interface AppendEntry {
  message: ChatMessage;
  participantIds: readonly string[];
}

/**
 * MessageStore is the history of every conversation (SQLite in `chatd`, Cassandra in the mesh).
 *
 * Guarantees implementers keep:
 * - `append` resolves only once the message is durable, and is idempotent twice over: by
 *   message_id, and by (sender_id, client_msg_id). A second append with a known client key stores
 *   nothing and returns the originally stored message with `created: false`.
 * - `append` also advances the conversation list of every participant to this message when it is
 *   newer than their current last message, in the same durable write.
 * - `appendBatch` is `append` of each entry, one after the other, in order: results[i] is what
 *   `append(entries[i])` would have answered at that point (a later entry with the client key or
 *   the id of an earlier one gets the earlier message with `created: false`). It resolves once
 *   every entry is durable. It rejects before writing anything when an entry is invalid (an id
 *   out of range); when a write fails it rejects and part of the batch may be stored, so the
 *   caller retries the whole batch, which is idempotent. Its dedupe by client key assumes that
 *   nothing appends the same (sender_id, client_msg_id) concurrently with it: the sync worker
 *   keeps that, every record of a conversation coming from one log partition, in order, to one
 *   consumer. It also assumes that a message id always comes with the same message (true of the
 *   log): a repeated id is written again rather than compared. `append` assumes neither.
 * - Pages are ordered strictly by message id and never skip or repeat a stored message between
 *   consecutive cursor pages. No call scans more than the rows it returns (plus one, for hasMore).
 * - Device cursors are where a device's resume starts, per conversation: an exact position (the
 *   device holds every message up to that id) or a hint (the newest id it acknowledged). Saving
 *   keeps the greater id of old and new, and at an equal id an exact one over a hint; losing the
 *   latest save only causes extra replay.
 * - Messages keep the `seq` and `epoch` they were appended with, in every read. `append` of a
 *   message whose seq is 0 numbers it when the store is its conversation's sequencer (SQLite in
 *   `chatd`: the next seq of the conversation, in the same transaction; a duplicate keeps the
 *   original's and uses none; a message whose id is not above every id of its conversation is
 *   refused with IdBehind, so that within an epoch a greater seq has a greater id); `appendBatch`
 *   never does (the sync worker writes what the mesh's sequencer numbered).
 */
export interface MessageStore {
  append(message: ChatMessage, participantIds: readonly string[]): Promise<AppendResult>;
  appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]>;
  findByClientMsgId(senderId: string, clientMsgId: string): Promise<ChatMessage | undefined>;
  listMessages(query: PageQuery): Promise<MessagePage>;
  /** The user's conversations, newest last message first, optionally older than a message id. */
  listConversations(userId: string, limit: number, beforeMessageId?: bigint): Promise<ConversationPage>;
  /** Whether the conversation is in the user's conversation list (it has at least one message). */
  hasConversation(userId: string, conversationId: string): Promise<boolean>;
  saveDeviceCursors(userId: string, deviceId: string, cursors: ReadonlyMap<string, DeviceCursor>): Promise<void>;
  loadDeviceCursors(userId: string, deviceId: string): Promise<Map<string, DeviceCursor>>;
  close(): Promise<void>;
}

/** The write a send needs: in `chatd` the store itself; in the mesh the Kafka message log. */
export type MessageAppender = Pick<MessageStore, 'append'>;

/** The write of the sync worker: the message log, a batch at a time, into the store. */
export type BatchAppender = Pick<MessageStore, 'appendBatch'>;

/** The reads behind history queries: the store in `chatd`, the HistoryService client in the mesh. */
export type MessageReader = Pick<MessageStore, 'listMessages' | 'listConversations'>;

/** Whether a user has a conversation; the presence visibility rule needs it. */
export type ConversationIndex = Pick<MessageStore, 'hasConversation'>;

/** Device resume positions, per conversation: exact (held through) or a hint (the newest acknowledged). */
export type DeviceCursorStore = Pick<MessageStore, 'saveDeviceCursors' | 'loadDeviceCursors'>;
