import type { ChatMessage, ConversationSummary } from '../../gen/chat/v1/message';
import type { SqliteDatabase, SqliteStatement as Stmt } from '../sqlite/sqlite-database';
import { MAX_STORABLE_ID, assertStorableId, parseStorableId } from '../snowflake/storable-id';
import { atEndOfTurn } from '../eventloop/end-of-turn';
import { settle } from '../sqlite/settle';
import { migrateSchema } from '../sqlite/sqlite-migrations';
import { bucketOf } from './bucket';
import { ListedParticipants } from './listed-participants';
import type { AppendEntry, AppendResult, ConversationPage, MessagePage, MessageStore, PageQuery } from './message-store';

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
];

const MESSAGE_COLUMNS = 'm.message_id, m.conversation_id, m.sender_id, m.client_msg_id, m.body, m.created_at';

/** A row of MESSAGE_COLUMNS, read raw (as an array): a page of 50 objects cost a third of its read. */
type MessageRow = [messageId: bigint, conversationId: string, senderId: string, clientMsgId: string, body: string, createdAtMs: bigint];

/** Options of {@link SqliteMessageStore}. */
export interface SqliteMessageStoreOptions {
  /** The connection, usually from `openSqliteDatabase`, possibly shared with other stores. */
  db: SqliteDatabase;
  /**
   * Whether `close()` closes `db`. Leave false (the default) for a connection shared with other
   * stores: its opener closes it after every store is done.
   */
  ownsDb?: boolean;
}

/** An append waiting for the next group commit. */
/** Conversations whose listed participants an append remembers (see ListedParticipants). */
const LISTED_CONVERSATIONS = 100_000;

interface PendingAppend {
  message: ChatMessage;
  id: bigint;
  participantIds: readonly string[];
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

/**
 * MessageStore on SQLite, for `chatd`. Creates its tables (schema owner "history") on
 * construction. Appends are group-committed: those arriving within one event-loop turn share one
 * IMMEDIATE transaction (one failing append still fails alone: that batch is run again with a
 * savepoint per append), and all resolve only after the commit, durable per the connection's
 * `synchronous` pragma ('full' keeps the port's promise across power loss). Under load that is one
 * fsync per turn, not per message.
 */
export class SqliteMessageStore implements MessageStore {
  private readonly db: SqliteDatabase;
  private readonly ownsDb: boolean;
  // Prepared once: append and paging are the hot paths.
  private readonly byClientKey: Stmt<[string, string], MessageRow>;
  private readonly byId: Stmt<[string, bigint], MessageRow>;
  private readonly insertMessage: Stmt<[string, number, bigint, string, string, string, number]>;
  private readonly insertClientKey: Stmt<[string, string, string, bigint]>;
  private readonly advanceConversation: Stmt<[string, bigint]>;
  private readonly addUserConversation: Stmt<[string, string]>;
  private readonly pageLatest: Stmt<[string, number], MessageRow>;
  private readonly pageBefore: Stmt<[string, bigint, number], MessageRow>;
  private readonly pageAfter: Stmt<[string, bigint, number], MessageRow>;
  private readonly conversationsLatest: Stmt<[string, number], MessageRow>;
  private readonly conversationsBefore: Stmt<[string, bigint, number], MessageRow>;
  private readonly inConversationList: Stmt<[string, string], unknown>;
  private readonly upsertCursor: Stmt<[string, string, string, bigint]>;
  private readonly cursorsOf: Stmt<[string, string], { conversation_id: string; message_id: bigint }>;
  private readonly appendBatchTx: (batch: readonly PendingAppend[]) => Array<AppendResult | Error>;
  private pendingAppends: PendingAppend[] = [];
  private readonly listed = new ListedParticipants(LISTED_CONVERSATIONS);
  private readonly saveCursorsTx: (userId: string, deviceId: string, cursors: ReadonlyMap<string, bigint>) => void;

  constructor(options: SqliteMessageStoreOptions) {
    this.db = options.db;
    this.ownsDb = options.ownsDb ?? false;
    migrateSchema(this.db, 'history', HISTORY_MIGRATIONS);

    const reader = <P extends unknown[], R>(sql: string): Stmt<P, R> => this.db.prepare<P, R>(sql).safeIntegers(true);
    const messageReader = <P extends unknown[]>(sql: string): Stmt<P, MessageRow> => this.db.prepare<P, MessageRow>(sql).safeIntegers(true).raw(true);
    const writer = <P extends unknown[]>(sql: string): Stmt<P> => this.db.prepare<P>(sql);
    this.byClientKey = messageReader(`SELECT ${MESSAGE_COLUMNS} FROM message_by_client_id k
      CROSS JOIN messages m ON m.conversation_id = k.conversation_id AND m.message_id = k.message_id
      WHERE k.sender_id = ? AND k.client_msg_id = ?`);
    this.byId = messageReader(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ? AND m.message_id = ?`);
    this.insertMessage = writer(`INSERT INTO messages
      (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
    this.insertClientKey = writer(
      'INSERT INTO message_by_client_id (sender_id, client_msg_id, conversation_id, message_id) VALUES (?, ?, ?, ?)',
    );
    this.advanceConversation = writer(`INSERT INTO conversations (conversation_id, last_message_id) VALUES (?, ?)
      ON CONFLICT (conversation_id) DO UPDATE SET last_message_id = max(last_message_id, excluded.last_message_id)`);
    this.addUserConversation = writer(
      'INSERT INTO user_conversations (user_id, conversation_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
    );
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
    this.upsertCursor = writer(`INSERT INTO device_cursors (user_id, device_id, conversation_id, message_id)
      VALUES (?, ?, ?, ?) ON CONFLICT (user_id, device_id, conversation_id)
      DO UPDATE SET message_id = max(message_id, excluded.message_id)`);
    this.cursorsOf = reader('SELECT conversation_id, message_id FROM device_cursors WHERE user_id = ? AND device_id = ?');

    // IMMEDIATE takes the write lock up front, so the idempotency check and the inserts see one
    // state even when another process shares the file (a deferred read-then-write can fail BUSY).
    // A transaction called inside another is a savepoint: one append's failure rolls back only it.
    const appendOne = this.db.transaction((p: PendingAppend) => this.appendInTransaction(p.message, p.id, p.participantIds));
    const appendBatch = this.db.transaction((batch: readonly PendingAppend[]) =>
      batch.map((p) => {
        try {
          return appendOne(p);
        } catch (err) {
          return err instanceof Error ? err : new Error(String(err));
        }
      }),
    );
    // Most batches have no failing append, and a savepoint costs two statements per append: a batch
    // runs without them first, and only one that throws (rolled back whole) runs again in savepoints.
    const appendAllOrNothing = this.db.transaction((batch: readonly PendingAppend[]) =>
      batch.map((p) => this.appendInTransaction(p.message, p.id, p.participantIds)),
    );
    this.appendBatchTx = (batch) => {
      try {
        return appendAllOrNothing.immediate(batch);
      } catch {
        return appendBatch.immediate(batch);
      }
    };
    const saveCursorsTx = this.db.transaction((userId: string, deviceId: string, cursors: ReadonlyMap<string, bigint>) => {
      for (const [conversationId, messageId] of cursors) this.upsertCursor.run(userId, deviceId, conversationId, messageId);
    });
    this.saveCursorsTx = (userId, deviceId, cursors) => saveCursorsTx.immediate(userId, deviceId, cursors);
  }

  append(message: ChatMessage, participantIds: readonly string[]): Promise<AppendResult> {
    let id: bigint;
    try {
      id = parseStorableId(message.messageId, 'message_id');
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.enqueue(message, id, participantIds);
  }

  /**
   * The entries join the appends of this turn, so they commit in one transaction, in order; each
   * is deduplicated against the ones before it like any append. Rejects with the first failing
   * entry (the others are committed). Needs no ordered writer: the transaction is the gate.
   */
  appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    let ids: bigint[];
    try {
      ids = entries.map((e) => parseStorableId(e.message.messageId, 'message_id'));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return Promise.all(entries.map(({ message, participantIds }, i) => this.enqueue(message, ids[i], participantIds)));
  }

  /** Queues an append for the group commit at the end of this turn. */
  private enqueue(message: ChatMessage, id: bigint, participantIds: readonly string[]): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pendingAppends.push({ message, id, participantIds, resolve, reject });
      if (this.pendingAppends.length === 1) atEndOfTurn(() => this.flushAppends());
    });
  }

  /** Commits every append queued since the last flush in one transaction, then answers each. */
  private flushAppends(): void {
    const batch = this.pendingAppends;
    this.pendingAppends = [];
    if (batch.length === 0) return;
    let results: Array<AppendResult | Error>;
    try {
      results = this.appendBatchTx(batch);
    } catch (err) {
      // The commit itself failed: nothing of the batch is durable.
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      const r = results[i];
      if (r instanceof Error) return p.reject(r);
      if (r.created) this.listed.committed(p.message.conversationId, p.participantIds);
      p.resolve(r);
    });
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

  saveDeviceCursors(userId: string, deviceId: string, cursors: ReadonlyMap<string, bigint>): Promise<void> {
    return settle(() => {
      for (const [conversationId, messageId] of cursors) assertStorableId(messageId, `cursor of ${conversationId}`);
      if (cursors.size > 0) this.saveCursorsTx(userId, deviceId, cursors);
    });
  }

  loadDeviceCursors(userId: string, deviceId: string): Promise<Map<string, bigint>> {
    return settle(() => new Map(this.cursorsOf.all(userId, deviceId).map((row) => [row.conversation_id, row.message_id])));
  }

  /** Closes the connection only when constructed with `ownsDb: true`; otherwise a no-op. */
  close(): Promise<void> {
    return settle(() => {
      if (this.db.open) this.flushAppends();
      if (this.ownsDb && this.db.open) this.db.close();
    });
  }

  /**
   * The body of the append transaction. A known client key wins over everything: the retried send
   * gets the original message and nothing is written. A known message id (a redelivered log
   * record) likewise writes nothing. Otherwise: the message, its client key, the conversation's
   * last message id (kept at the maximum: appends can arrive out of id order) and one
   * INSERT-OR-NOTHING per participant, so a member who joined later gets the conversation listed.
   */
  private appendInTransaction(message: ChatMessage, id: bigint, participantIds: readonly string[]): AppendResult {
    const original = this.byClientKey.get(message.senderId, message.clientMsgId);
    if (original) return { message: toChatMessage(original), created: false };

    // The proto defines createdAt as the Snowflake's timestamp; derive it when the caller left it unset.
    const createdAtMs = message.createdAt?.getTime() ?? SNOWFLAKE_EPOCH_MS + Number(id >> 22n);
    const { conversationId } = message;
    const inserted = this.insertMessage.run(
      conversationId, bucketOf(id), id, message.senderId, message.clientMsgId, message.text, createdAtMs,
    );
    if (inserted.changes === 0) {
      const stored = this.byId.get(conversationId, id);
      if (!stored) throw new Error(`message ${id} conflicts but is not stored in ${conversationId}`);
      return { message: toChatMessage(stored), created: false };
    }
    this.insertClientKey.run(message.senderId, message.clientMsgId, conversationId, id);
    this.advanceConversation.run(conversationId, id);
    for (const userId of this.listed.missing(conversationId, participantIds)) this.addUserConversation.run(userId, conversationId);
    return { message: { ...message, messageId: id.toString(), createdAt: new Date(createdAtMs) }, created: true };
  }
}

function toChatMessage([messageId, conversationId, senderId, clientMsgId, body, createdAtMs]: MessageRow): ChatMessage {
  return { messageId: messageId.toString(), conversationId, senderId, clientMsgId, text: body, createdAt: new Date(Number(createdAtMs)) };
}

/** Callers validate page sizes; this only keeps a bad value from reaching SQL as a huge LIMIT. */
function pageLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`);
  return limit;
}
