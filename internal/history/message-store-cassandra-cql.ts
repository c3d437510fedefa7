import type { types } from 'cassandra-driver';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { bigintColumn, dateColumn, isNullColumn, textColumn } from '../cassandra/cassandra-rows';
import { parseStorableId } from '../snowflake/storable-id';
import { messagePosition } from './message-position';

/**
 * What the Cassandra history store and its batch append share: the statements over the tables
 * of message-store-cassandra.ts (see MIGRATIONS there), and the mapping of rows to messages.
 */

/** Unix ms of the Snowflake epoch (2026-01-01T00:00:00Z); `id >> 22n` counts ms from it. */
const SNOWFLAKE_EPOCH_MS = 1767225600000;

/** A message as stored: the row of `messages`, and of the gate. */
export interface StoredMessage {
  id: bigint;
  conversationId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
  createdAt: Date;
  /** ChatMessage.seq and .epoch, 0 when unnumbered (a null cell: written before they existed). */
  seq: bigint;
  epoch: bigint;
}

/**
 * The message as it will be stored, with the seq and epoch it comes with (this store numbers
 * nothing). The proto defines createdAt as the Snowflake's timestamp: it is derived when the
 * caller left it unset.
 * @throws RangeError when the id is not a storable Snowflake, or the seq or epoch not in 0..2^63-1.
 */
export function storedMessage(message: ChatMessage): StoredMessage {
  const id = parseStorableId(message.messageId, 'message_id');
  return {
    ...messagePosition(message),
    id,
    conversationId: message.conversationId,
    senderId: message.senderId,
    clientMsgId: message.clientMsgId,
    body: message.text,
    createdAt: message.createdAt ?? new Date(SNOWFLAKE_EPOCH_MS + Number(id >> 22n)),
  };
}

/** The statements, by name. */
export type Statements = ReturnType<typeof statements>;

/** The prepared statements, over fully qualified table names. */
export function statements(t: (name: string) => string) {
  const MESSAGE = 'message_id, conversation_id, sender_id, client_msg_id, body, created_at, seq, epoch';
  const inBucket = `SELECT ${MESSAGE} FROM ${t('messages')} WHERE conversation_id = ? AND bucket = ?`;
  return {
    messageById: `${inBucket} AND message_id = ?`,
    claimClientKey: `INSERT INTO ${t('message_by_client_id')} (sender_id, client_msg_id, conversation_id, message_id, body, created_at, seq, epoch)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS`,
    clientKey: `SELECT conversation_id, message_id FROM ${t('message_by_client_id')} WHERE sender_id = ? AND client_msg_id = ?`,
    clientKeyMessage: `SELECT conversation_id, message_id, body, created_at, seq, epoch FROM ${t('message_by_client_id')} WHERE sender_id = ? AND client_msg_id = ?`,
    recordClientKey: `INSERT INTO ${t('message_by_client_id')} (sender_id, client_msg_id, conversation_id, message_id, body, created_at, seq, epoch)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    insertMessage: `INSERT INTO ${t('messages')} (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at, seq, epoch)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    advanceConversation: `INSERT INTO ${t('conversations')}
      (conversation_id, last_message_id, last_sender_id, last_client_msg_id, last_body, last_created_at, last_seq, last_epoch)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    addBucket: `INSERT INTO ${t('conversation_buckets')} (conversation_id, bucket) VALUES (?, ?)`,
    addUserConversation: `INSERT INTO ${t('user_conversations')} (user_id, conversation_id) VALUES (?, ?)`,
    bucketsDown: `SELECT bucket FROM ${t('conversation_buckets')} WHERE conversation_id = ? AND bucket <= ? LIMIT ?`,
    bucketsUp: `SELECT bucket FROM ${t('conversation_buckets')} WHERE conversation_id = ? AND bucket >= ? ORDER BY bucket ASC LIMIT ?`,
    bucketNewest: `${inBucket} LIMIT ?`,
    bucketOldest: `${inBucket} ORDER BY message_id ASC LIMIT ?`,
    pageBefore: `${inBucket} AND message_id < ? LIMIT ?`,
    pageAfter: `${inBucket} AND message_id > ? ORDER BY message_id ASC LIMIT ?`,
    userConversations: `SELECT conversation_id FROM ${t('user_conversations')} WHERE user_id = ?`,
    conversationHead: `SELECT last_message_id, last_sender_id, last_client_msg_id, last_body, last_created_at, last_seq, last_epoch
      FROM ${t('conversations')} WHERE conversation_id = ?`,
    inList: `SELECT conversation_id FROM ${t('user_conversations')} WHERE user_id = ? AND conversation_id = ?`,
    // Both cells of a cursor in one write, so they come from the same winning write (see saveDeviceCursors).
    saveCursor: `INSERT INTO ${t('device_cursors')} (user_id, device_id, conversation_id, message_id, exact) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    cursors: `SELECT conversation_id, message_id, exact FROM ${t('device_cursors')} WHERE user_id = ? AND device_id = ?`,
  };
}

/** The key of a (user, conversation) list entry in the write caches. */
export function listKey(userId: string, conversationId: string): string {
  return `${userId}\u0000${conversationId}`;
}

export function messageFromRow(row: types.Row): StoredMessage {
  return {
    id: bigintColumn(row, 'message_id'),
    conversationId: textColumn(row, 'conversation_id'),
    senderId: textColumn(row, 'sender_id'),
    clientMsgId: textColumn(row, 'client_msg_id'),
    body: textColumn(row, 'body'),
    createdAt: dateColumn(row, 'created_at'),
    seq: positionColumn(row, 'seq'),
    epoch: positionColumn(row, 'epoch'),
  };
}

/** A seq or epoch cell: 0 when null (the row was written before positions existed). */
export function positionColumn(row: types.Row, column: string): bigint {
  return isNullColumn(row, column) ? 0n : bigintColumn(row, column);
}

/** The message an existing claim stands for (the row a not-applied IF NOT EXISTS returns). */
export function claimedMessage(row: types.Row | null, draft: StoredMessage): StoredMessage {
  if (!row) throw new Error(`claim of (${draft.senderId}, ${draft.clientMsgId}) was not applied but returned no row`);
  return {
    id: bigintColumn(row, 'message_id'),
    conversationId: textColumn(row, 'conversation_id'),
    senderId: draft.senderId,
    clientMsgId: draft.clientMsgId,
    body: textColumn(row, 'body'),
    createdAt: dateColumn(row, 'created_at'),
    seq: positionColumn(row, 'seq'),
    epoch: positionColumn(row, 'epoch'),
  };
}

export function toChatMessage(message: StoredMessage): ChatMessage {
  return {
    messageId: message.id.toString(),
    conversationId: message.conversationId,
    senderId: message.senderId,
    clientMsgId: message.clientMsgId,
    text: message.body,
    createdAt: message.createdAt,
    seq: message.seq.toString(),
    epoch: message.epoch.toString(),
  };
}

/** The key of a (conversation, bucket) index row in the write caches. */
export function bucketKey(conversationId: string, bucket: number): string {
  return `${conversationId}\u0000${bucket}`;
}
