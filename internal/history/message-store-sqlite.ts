import type { ChatMessage, ConversationSummary } from '../../gen/chat/v1/message';
import type { SqliteDatabase, SqliteStatement as Stmt } from '../sqlite/sqlite-database';
import { MAX_STORABLE_ID, assertStorableId, parseStorableId } from '../snowflake/storable-id';
import { IdBehind } from '../snowflake/id-behind';
import { settle } from '../sqlite/settle';
import { migrateSchema } from '../sqlite/sqlite-migrations';
import type { AppendEntry, AppendResult, ConversationPage, DeviceCursor, MessagePage, MessageStore, PageQuery } from './message-store';
import { messagePosition } from './message-position';
import { MESSAGE_COLUMNS, type MessageRow, type WriteOp, type WriteResult } from './message-store-sqlite-writer';
import { InlineWrites, ThreadWrites, type HistoryWrites, type ThreadWritesOptions } from './message-store-sqlite-writes';

/** Unix ms of the Snowflake epoch (2026-01-01T00:00:00Z); `id >> 22n` counts ms from it. */
const SNOWFLAKE_EPOCH_MS = 1767225600000;

/**
 * The history tables, in the shape of the Cassandra ones (see ARCHITECTURE.md "Storage"), so both
 * adapters answer every query from the same keys. Append-only: never edit a released script.
 */
export const HISTORY_MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     conversation_id TEXT    NOT NULL,
     bucket          INTEGER NOT NULL,  -- bucketOf(message_id): the Cassandra partition
     message_id      INTEGER NOT NULL,
     sender_id       TEXT    NOT NULL,
     client_msg_id   TEXT    NOT NULL,
     body            TEXT    NOT NULL,
     created_at      INTEGER NOT NULL,  -- Unix ms
     PRIMARY KEY (conversation_id, bucket, message_id)
   ) WITHOUT ROWID;
   -- Serves cursor pages across buckets in one index range, and lookups by id.
   CREATE UNIQUE INDEX messages_by_conversation ON messages (conversation_id, message_id);
   -- The idempotency key of a send: (sender, client message id) -> the message it produced.
   CREATE TABLE message_by_client_id (
     sender_id       TEXT    NOT NULL,
     client_msg_id   TEXT    NOT NULL,
     conversation_id TEXT    NOT NULL,
     message_id      INTEGER NOT NULL,
     PRIMARY KEY (sender_id, client_msg_id)
   ) WITHOUT ROWID;
   -- One row per conversation rather than per participant, so a message to a 500-member group
   -- updates one row; participants reach it through user_conversations.
   CREATE TABLE conversations (
     conversation_id TEXT    NOT NULL PRIMARY KEY,
     last_message_id INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE user_conversations (
     user_id         TEXT NOT NULL,
     conversation_id TEXT NOT NULL,
     PRIMARY KEY (user_id, conversation_id)
   ) WITHOUT ROWID;
   CREATE TABLE device_cursors (
     user_id         TEXT    NOT NULL,
     device_id       TEXT    NOT NULL,
     conversation_id TEXT    NOT NULL,
     message_id      INTEGER NOT NULL,
     PRIMARY KEY (user_id, device_id, conversation_id)
   ) WITHOUT ROWID;`,
  // Version 2: messages keyed by (conversation_id, message_id). A page used to walk the secondary
  // index and look each row up in the table: 20% of a page read and a third of a message insert.
  // The bucket stays a column, so the rows still match Cassandra's.
  `CREATE TABLE messages_v2 (
     conversation_id TEXT    NOT NULL,
     message_id      INTEGER NOT NULL,
     bucket          INTEGER NOT NULL,
     sender_id       TEXT    NOT NULL,
     client_msg_id   TEXT    NOT NULL,
     body            TEXT    NOT NULL,
     created_at      INTEGER NOT NULL,  -- Unix ms
     PRIMARY KEY (conversation_id, message_id)
   ) WITHOUT ROWID;
   INSERT INTO messages_v2 (conversation_id, message_id, bucket, sender_id, client_msg_id, body, created_at)
     SELECT conversation_id, message_id, bucket, sender_id, client_msg_id, body, created_at FROM messages;
   DROP TABLE messages;
   ALTER TABLE messages_v2 RENAME TO messages;`,
  // Version 3: positions (ChatMessage.seq and .epoch; 0 for the messages stored before), the
  // conversation's sequencer (its last seq and the epoch of its numbering, on the row every
  // append already writes), and whether a device cursor is exact (0: a hint, as every older one).
  `ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE messages ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE conversations ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE conversations ADD COLUMN seq_epoch INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE device_cursors ADD COLUMN exact INTEGER NOT NULL DEFAULT 0;`,
];

/** Options of {@link SqliteMessageStore}. */
export interface SqliteMessageStoreOptions {
  /** The connection, usually from `openSqliteDatabase`, possibly shared with other stores. */
  db: SqliteDatabase;
  /**
   * Whether `close()` closes `db`. Leave false (the default) for a connection shared with other
   * stores: its opener closes it after every store is done.
   */
  ownsDb?: boolean;
  /**
   * Commit appends and cursor saves on a writer thread with its own connection (a file database
   * only), so no statement or fsync of a write runs on the event loop. Without it they commit on
   * `db`, at the end of the event-loop turn they arrived in.
   */
  writerThread?: ThreadWritesOptions;
}

/**
 * MessageStore on SQLite, for `chatd`, where it is also every conversation's sequencer: `append`
 * numbers the unnumbered messages of the send path (see append). Creates its tables (schema
 * owner "history") on construction. Writes are group-committed (see HistoryWrites): on the
 * writer thread when given one, those queued while a commit runs share the next transaction;
 * inline, those of one event-loop turn do. Either way a failing append fails alone, and each
 * resolves only after its commit, durable per the connection's `synchronous` pragma ('full'
 * keeps the port's promise across power loss). Under load that is one fsync per batch, not per
 * message.
 *
 * Reads run on `db`, on the event loop. With a writer thread that is a second connection to the
 * file: WAL lets it read while the thread writes, and each read sees every commit that resolved
 * before it started (an append's promise settles only after the thread's commit).
 */
export class SqliteMessageStore implements MessageStore {
  private readonly db: SqliteDatabase;
  private readonly ownsDb: boolean;
  private readonly writes: HistoryWrites;
  // Prepared once: paging is a hot path.
  private readonly byClientKey: Stmt<[string, string], MessageRow>;
  private readonly pageLatest: Stmt<[string, number], MessageRow>;
  private readonly pageBefore: Stmt<[string, bigint, number], MessageRow>;
  private readonly pageAfter: Stmt<[string, bigint, number], MessageRow>;
  private readonly conversationsLatest: Stmt<[string, number], MessageRow>;
  private readonly conversationsBefore: Stmt<[string, bigint, number], MessageRow>;
  private readonly inConversationList: Stmt<[string, string], unknown>;
  private readonly cursorsOf: Stmt<[string, string], { conversation_id: string; message_id: bigint; exact: bigint }>;

  constructor(options: SqliteMessageStoreOptions) {
    this.db = options.db;
    this.ownsDb = options.ownsDb ?? false;
    migrateSchema(this.db, 'history', HISTORY_MIGRATIONS);

    const reader = <P extends unknown[], R>(sql: string): Stmt<P, R> => this.db.prepare<P, R>(sql).safeIntegers(true);
    const messageReader = <P extends unknown[]>(sql: string): Stmt<P, MessageRow> => this.db.prepare<P, MessageRow>(sql).safeIntegers(true).raw(true);
    this.byClientKey = messageReader(`SELECT ${MESSAGE_COLUMNS} FROM message_by_client_id k
      CROSS JOIN messages m ON m.conversation_id = k.conversation_id AND m.message_id = k.message_id
      WHERE k.sender_id = ? AND k.client_msg_id = ?`);
    const page = (where: string, order: 'ASC' | 'DESC'): string =>
      `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ? ${where} ORDER BY m.message_id ${order} LIMIT ?`;
    this.pageLatest = messageReader(page('', 'DESC'));
    this.pageBefore = messageReader(page('AND m.message_id < ?', 'DESC'));
    this.pageAfter = messageReader(page('AND m.message_id > ?', 'ASC'));
    // CROSS JOIN fixes the join order: start from the user's own rows, then point lookups. This
    // reads all of the user's conversation rows to sort them (their order changes with every
    // message), which is the price of one shared write per message instead of one per member.
    const conversations = (where: string): string => `SELECT ${MESSAGE_COLUMNS} FROM user_conversations uc
      CROSS JOIN conversations c ON c.conversation_id = uc.conversation_id
      CROSS JOIN messages m ON m.conversation_id = c.conversation_id AND m.message_id = c.last_message_id
      WHERE uc.user_id = ? ${where} ORDER BY c.last_message_id DESC LIMIT ?`;
    this.conversationsLatest = messageReader(conversations(''));
    this.conversationsBefore = messageReader(conversations('AND c.last_message_id < ?'));
    this.inConversationList = reader('SELECT 1 FROM user_conversations WHERE user_id = ? AND conversation_id = ?');
    this.cursorsOf = reader('SELECT conversation_id, message_id, exact FROM device_cursors WHERE user_id = ? AND device_id = ?');
    this.writes = options.writerThread ? ThreadWrites.start(this.db, options.writerThread) : new InlineWrites(this.db);
  }

  /**
   * `chatd`'s send path: this store is the sequencer of every conversation. A message with seq 0
   * is numbered in the transaction that stores it (the conversation's next seq, in the epoch of
   * its numbering; see SqliteHistoryWriter), and the result carries the numbers. A message that
   * comes numbered keeps its seq and epoch; a duplicate gets the original, numbers and all.
   * Rejects with {@link IdBehind}, storing nothing, a message to number whose id is not above
   * every id of its conversation: the send path retries it with a newer id.
   */
  append(message: ChatMessage, participantIds: readonly string[]): Promise<AppendResult> {
    let op: WriteOp;
    try {
      op = appendOp(message, participantIds, true);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.writes.submit([op])[0].then((r) => appendResult(op, message, r));
  }

  /**
   * The entries join the writes waiting for the next group commit, in order, so they commit
   * together (in one transaction unless more wait than a batch holds); each is deduplicated
   * against the ones before it like any append. Rejects with the first failing entry (the others
   * are committed). Needs no ordered writer: the transaction is the gate. Numbers nothing: each
   * message keeps the seq and epoch it comes with.
   */
  appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    let ops: WriteOp[];
    try {
      ops = entries.map((e) => appendOp(e.message, e.participantIds, false));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return Promise.all(this.writes.submit(ops).map((p, i) => p.then((r) => appendResult(ops[i], entries[i].message, r))));
  }

  findByClientMsgId(senderId: string, clientMsgId: string): Promise<ChatMessage | undefined> {
    return settle(() => {
      const row = this.byClientKey.get(senderId, clientMsgId);
      return row && toChatMessage(row);
    });
  }

  listMessages(query: PageQuery): Promise<MessagePage> {
    return settle(() => {
      const limit = pageLimit(query.limit);
      const { conversationId, beforeId, afterId } = query;
      let rows: MessageRow[];
      if (afterId !== undefined) {
        // Nothing is stored above the largest INTEGER; binding a larger uint64 would throw.
        rows = afterId >= MAX_STORABLE_ID ? [] : this.pageAfter.all(conversationId, afterId, limit + 1);
      } else if (beforeId !== undefined && beforeId <= MAX_STORABLE_ID) {
        rows = this.pageBefore.all(conversationId, beforeId, limit + 1);
      } else {
        rows = this.pageLatest.all(conversationId, limit + 1);
      }
      return { messages: rows.slice(0, limit).map(toChatMessage), hasMore: rows.length > limit };
    });
  }

  listConversations(userId: string, limit: number, beforeMessageId?: bigint): Promise<ConversationPage> {
    return settle(() => {
      const n = pageLimit(limit);
      const rows =
        beforeMessageId !== undefined && beforeMessageId <= MAX_STORABLE_ID
          ? this.conversationsBefore.all(userId, beforeMessageId, n + 1)
          : this.conversationsLatest.all(userId, n + 1);
      const conversations: ConversationSummary[] = rows
        .slice(0, n)
        .map((row) => ({ conversationId: row[1], lastMessage: toChatMessage(row), unreadCount: 0, readUpToMessageId: '0', othersDeliveredUpToMessageId: '0', othersReadUpToMessageId: '0' }));
      return { conversations, hasMore: rows.length > n };
    });
  }

  hasConversation(userId: string, conversationId: string): Promise<boolean> {
    return settle(() => this.inConversationList.get(userId, conversationId) !== undefined);
  }

  async saveDeviceCursors(userId: string, deviceId: string, cursors: ReadonlyMap<string, DeviceCursor>): Promise<void> {
    for (const [conversationId, c] of cursors) assertStorableId(c.messageId, `cursor of ${conversationId}`);
    if (cursors.size === 0) return;
    // One write for the whole map: the device's cursors are saved together or not at all.
    await this.writes.submit([['cursors', userId, deviceId, [...cursors].map(([conversationId, c]) => [conversationId, c.messageId, c.exact] as const)]])[0];
  }

  loadDeviceCursors(userId: string, deviceId: string): Promise<Map<string, DeviceCursor>> {
    return settle(() => new Map(this.cursorsOf.all(userId, deviceId).map((row) => [row.conversation_id, { messageId: row.message_id, exact: row.exact !== 0n }])));
  }

  /** Commits the writes still queued; closes the connection only when constructed with `ownsDb: true`. */
  async close(): Promise<void> {
    await this.writes.close();
    if (this.ownsDb && this.db.open) this.db.close();
  }
}

/**
 * The write of an append; `sequence` lets the writer number a message that comes with seq 0.
 * Throws on an id, seq or epoch SQLite cannot store.
 */
function appendOp(message: ChatMessage, participantIds: readonly string[], sequence: boolean): WriteOp {
  const id = parseStorableId(message.messageId, 'message_id');
  const { seq, epoch } = messagePosition(message);
  // The proto defines createdAt as the Snowflake's timestamp; derive it when the caller left it unset.
  const createdAtMs = message.createdAt?.getTime() ?? SNOWFLAKE_EPOCH_MS + Number(id >> 22n);
  return ['append', message.conversationId, id, message.senderId, message.clientMsgId, message.text, createdAtMs, participantIds, seq, epoch, sequence && seq === 0n];
}

/** The port's answer to an append: the message as stored (numbered, if it was), or the original of a duplicate. */
function appendResult(op: WriteOp, message: ChatMessage, result: WriteResult): AppendResult {
  if (op[0] !== 'append') throw new Error('not the result of an append');
  if (Array.isArray(result)) return { message: toChatMessage(result), created: false };
  if (result !== null && 'behind' in result) throw new IdBehind(result.behind);
  const [seq, epoch] = result !== null && 'seq' in result ? [result.seq, result.epoch] : [op[8], op[9]];
  return { message: { ...message, messageId: op[2].toString(), createdAt: new Date(op[6]), seq: seq.toString(), epoch: epoch.toString() }, created: true };
}

function toChatMessage([messageId, conversationId, senderId, clientMsgId, body, createdAtMs, seq, epoch]: MessageRow): ChatMessage {
  return { messageId: messageId.toString(), conversationId, senderId, clientMsgId, text: body, createdAt: new Date(Number(createdAtMs)), seq: seq.toString(), epoch: epoch.toString() };
}

/** Callers validate page sizes; this only keeps a bad value from reaching SQL as a huge LIMIT. */
function pageLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`);
  return limit;
}
