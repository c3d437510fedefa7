import type { types } from 'cassandra-driver';
import type { ChatMessage, ConversationSummary } from '../../gen/chat/v1/message';
import { BoundedSet } from '../cassandra/bounded-set';
import { isLwtContention } from '../cassandra/cassandra-errors';
import { MAX_STORABLE_ID, assertStorableId } from '../snowflake/storable-id';
import { type CqlMigrations, migrateKeyspace, speculativeRetryMigration } from '../cassandra/cassandra-migrations';
import { bigintColumn, dateColumn, intColumn, textColumn } from '../cassandra/cassandra-rows';
import type { BatchStatement, CassandraSession } from '../cassandra/cassandra-session';
import { mapConcurrent } from '../cassandra/map-concurrent';
import { bucketOf } from './bucket';
import type { AppendEntry, AppendResult, ConversationPage, DeviceCursor, MessagePage, MessageStore, PageQuery } from './message-store';
import { appendBatch } from './message-store-cassandra-batch';
import {
  bucketKey,
  claimedMessage,
  listKey,
  messageFromRow,
  positionColumn,
  statements,
  storedMessage,
  toChatMessage,
  type Statements,
  type StoredMessage,
} from './message-store-cassandra-cql';

/**
 * The history tables (ARCHITECTURE.md "Storage"; the SQLite adapter keeps the same logical
 * schema). Append-only: never edit a released migration.
 *
 * - messages: one partition per (conversation, 10-day bucket), newest first.
 * - conversation_buckets: the non-empty buckets of each conversation. Paging walks this index,
 *   so it never probes an empty bucket and knows where a conversation starts and ends.
 * - message_by_client_id: the idempotency gate of a send: claimed with a lightweight transaction
 *   by `append`, read then written plainly by `appendBatch` (the log orders its writers). It holds
 *   the whole message, so a send whose writer died half way can be finished by the retry.
 * - conversations: each conversation's last message, one row per conversation (not per member).
 *   Written `USING TIMESTAMP <message id>`: Cassandra keeps the cell with the highest write
 *   timestamp, so the newest message wins whatever order appends arrive in, with no read and no
 *   transaction. Only this store writes the table, always that way. (Snowflakes read as
 *   microseconds lie centuries ahead: Cassandra's maximum_timestamp guardrail, off by default,
 *   must stay off for this keyspace.)
 * - user_conversations: which conversations are in a user's list; written once per pair.
 * - device_cursors: one partition per device; `USING TIMESTAMP <message id>` keeps the maximum.
 *   Its `exact` cell is written in the same statement, so it comes from the same winning write;
 *   at an equal id (an equal timestamp) Cassandra keeps the greater value, true over false, which
 *   is laterCursor's rule: exact over a hint.
 *
 * Version 3 adds the positions (ChatMessage.seq and .epoch) to messages, to the gate (so a send
 * finished by its retry keeps them) and to the heads, and `exact` to device_cursors. Rows written
 * before have null cells there, read as seq 0, epoch 0 and a hint. `ADD IF NOT EXISTS` needs
 * Cassandra 5.0 (what deploy/ runs); it keeps the version safe to run again.
 */
export const HISTORY_CQL_MIGRATIONS: CqlMigrations = [
  [
    `CREATE TABLE IF NOT EXISTS {keyspace}.messages (
       conversation_id text, bucket int, message_id bigint,
       sender_id text, client_msg_id text, body text, created_at timestamp,
       PRIMARY KEY ((conversation_id, bucket), message_id)
     ) WITH CLUSTERING ORDER BY (message_id DESC)`,
    `CREATE TABLE IF NOT EXISTS {keyspace}.conversation_buckets (
       conversation_id text, bucket int,
       PRIMARY KEY (conversation_id, bucket)
     ) WITH CLUSTERING ORDER BY (bucket DESC)`,
    `CREATE TABLE IF NOT EXISTS {keyspace}.message_by_client_id (
       sender_id text, client_msg_id text,
       conversation_id text, message_id bigint, body text, created_at timestamp,
       PRIMARY KEY ((sender_id, client_msg_id)))`,
    `CREATE TABLE IF NOT EXISTS {keyspace}.conversations (
       conversation_id text PRIMARY KEY,
       last_message_id bigint, last_sender_id text, last_client_msg_id text, last_body text, last_created_at timestamp)`,
    `CREATE TABLE IF NOT EXISTS {keyspace}.user_conversations (
       user_id text, conversation_id text,
       PRIMARY KEY (user_id, conversation_id))`,
    `CREATE TABLE IF NOT EXISTS {keyspace}.device_cursors (
       user_id text, device_id text, conversation_id text, message_id bigint,
       PRIMARY KEY ((user_id, device_id), conversation_id))`,
  ],
  speculativeRetryMigration(['messages', 'conversation_buckets', 'message_by_client_id', 'conversations', 'user_conversations', 'device_cursors']),
  [
    'ALTER TABLE {keyspace}.messages ADD IF NOT EXISTS (seq bigint, epoch bigint)',
    'ALTER TABLE {keyspace}.message_by_client_id ADD IF NOT EXISTS (seq bigint, epoch bigint)',
    'ALTER TABLE {keyspace}.conversations ADD IF NOT EXISTS (last_seq bigint, last_epoch bigint)',
    'ALTER TABLE {keyspace}.device_cursors ADD IF NOT EXISTS exact boolean',
  ],
];

/** Brings the history tables of the session's keyspace up to date (also done by `open`). */
export function migrateHistorySchema(session: CassandraSession): Promise<number> {
  return migrateKeyspace(session, 'history', HISTORY_CQL_MIGRATIONS);
}

/** A new member's list entries up to this many go into the message's own batch; more are written first. */
const INLINE_LIST_ENTRIES = 32;
/** Attempts at claiming a client key when Paxos rounds on it keep failing (duplicate sends racing). */
const CLAIM_ROUNDS = 4;
/** Buckets fetched from the index per round trip while paging. */
const BUCKETS_PER_READ = 4;
/** Conversation heads read in parallel by listConversations. */
const HEAD_READS_IN_FLIGHT = 32;
const MAX_BUCKET = 2 ** 31 - 1;

/** Options of {@link CassandraMessageStore}. */
export interface CassandraMessageStoreOptions {
  /** The session, possibly shared with other stores. */
  session: CassandraSession;
  /** Whether `close()` closes the session. Leave false (the default) for a shared one. */
  ownsSession?: boolean;
  /**
   * How many (user, conversation) list entries and (conversation, bucket) index rows this process
   * remembers having written, to skip rewriting them on every message. Default 100 000 each.
   */
  writeCacheSize?: number;
  /** Statements one `appendBatch` (or a large fan-out of `append`) has in flight at most. Default 32. */
  writeConcurrency?: number;
}

/**
 * MessageStore on Cassandra, for the mesh. See MIGRATIONS for the tables and why each exists.
 *
 * Two ways in, for two kinds of caller:
 *
 * `appendBatch` is the sync worker's path, the one the whole mesh's history goes through. It
 * relies on the log: every copy of a send is in one partition, handled in order by one consumer,
 * so a plain read of the client key followed by a plain write cannot race another copy, and the
 * lightweight transaction (four Paxos round trips and a read, per message) buys nothing there.
 * Per batch it costs one client-key read per message, one write per message row (single-partition
 * unlogged batches per conversation bucket), one head per conversation, and the client keys of
 * new messages; see message-store-cassandra-batch.ts. A repeated id (a redelivered record) is
 * written again rather than read first: redeliveries are rare, reads on every message are not.
 *
 * `append` is for callers the log does not order (`chatd` on Cassandra, HistoryService.AppendMessage):
 * one read (is the id known?), one lightweight transaction (claim the client key), and one logged
 * batch: the message, the conversation's last message, and, the first time this process sees them,
 * the bucket's index row and the participants' list entries. `created` is true for the call that
 * made the message durable. When a claim's writer died between the claim and the batch, the retry
 * finishes the write and reports `created: true`; if instead the writer was merely slow, both
 * report true, and delivery (at least once, deduplicated by message id on the receiving side)
 * sends it twice. A message to more than 32 participants not yet listed writes their list entries
 * before the batch, so a crash in between leaves the conversation listed (hasConversation true)
 * without that message; it appears with the retry or the next message.
 *
 * Neither numbers messages: this store is no conversation's sequencer (in the mesh that is Redis,
 * ahead of the log). Each message is stored with the seq and epoch it comes with, 0 and 0 for one
 * nobody numbered (`chatd` on Cassandra, HistoryService.AppendMessage), and read back with them.
 *
 * Both write the same rows the same way, and `appendBatch` finishes a send `append` left half
 * written (it writes again whatever a known client key names). They are not meant for the same
 * client keys at the same time: a plain write racing a claim could let one send through twice.
 */
export class CassandraMessageStore implements MessageStore {
  private readonly session: CassandraSession;
  private readonly ownsSession: boolean;
  private readonly listed: BoundedSet;
  private readonly indexedBuckets: BoundedSet;
  private readonly q: Statements;
  private readonly writeConcurrency: number;

  private constructor(options: CassandraMessageStoreOptions) {
    this.session = options.session;
    this.ownsSession = options.ownsSession ?? false;
    this.listed = new BoundedSet(options.writeCacheSize ?? 100_000);
    this.indexedBuckets = new BoundedSet(options.writeCacheSize ?? 100_000);
    this.q = statements((name) => this.session.table(name));
    const concurrency = options.writeConcurrency ?? 32;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError(`writeConcurrency must be a positive integer, got ${concurrency}`);
    this.writeConcurrency = concurrency;
  }

  /** Migrates the history tables, then returns the store. */
  static async open(options: CassandraMessageStoreOptions): Promise<CassandraMessageStore> {
    await migrateHistorySchema(options.session);
    return new CassandraMessageStore(options);
  }

  /** Stores the message with the seq and epoch it comes with; numbers nothing (see the class comment). */
  async append(message: ChatMessage, participantIds: readonly string[]): Promise<AppendResult> {
    const draft = storedMessage(message);
    const { id } = draft;
    // A known id (a redelivered log record) wins over everything and writes nothing.
    const known = await this.readMessage(draft.conversationId, id);
    if (known) return { message: toChatMessage(known), created: false };

    const claim = await this.claim(draft);
    if (!claim.wasApplied()) {
      const original = claimedMessage(claim.first(), draft);
      if (original.id !== id) {
        const stored = await this.readMessage(original.conversationId, original.id);
        if (stored) return { message: toChatMessage(stored), created: false };
      }
      // The claim's message is not stored: its writer died after claiming, or is still writing.
      // Writing it again is idempotent (same row, same content), so finish it. This call's
      // participants are the original's unless the client reused its key in another conversation.
      const sameConversation = original.conversationId === draft.conversationId;
      await this.write(original, sameConversation ? participantIds : [original.senderId]);
      return { message: toChatMessage(original), created: true };
    }
    await this.write(draft, participantIds);
    return { message: toChatMessage(draft), created: true };
  }

  /** See {@link appendBatch}: for the ordered writer of the log, without a lightweight transaction. */
  appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    const { session, q, listed, indexedBuckets, writeConcurrency: concurrency } = this;
    return appendBatch({ session, q, listed, indexedBuckets, concurrency }, entries);
  }

  async findByClientMsgId(senderId: string, clientMsgId: string): Promise<ChatMessage | undefined> {
    const claim = await this.session.execute('find by client message id', this.q.clientKey, [senderId, clientMsgId], { idempotent: true });
    const row = claim.first();
    if (!row) return undefined;
    const stored = await this.readMessage(textColumn(row, 'conversation_id'), bigintColumn(row, 'message_id'));
    return stored && toChatMessage(stored);
  }

  async listMessages(query: PageQuery): Promise<MessagePage> {
    const limit = pageLimit(query.limit);
    const { conversationId, beforeId, afterId } = query;
    let rows: StoredMessage[];
    if (afterId !== undefined) {
      // Nothing is stored above the largest bigint; binding a larger uint64 would throw.
      rows = afterId >= MAX_STORABLE_ID ? [] : await this.walk(conversationId, 'forwards', afterId, limit + 1);
    } else {
      const cursor = beforeId !== undefined && beforeId <= MAX_STORABLE_ID ? beforeId : undefined;
      rows = await this.walk(conversationId, 'backwards', cursor, limit + 1);
    }
    return { messages: rows.slice(0, limit).map(toChatMessage), hasMore: rows.length > limit };
  }

  /**
   * Reads every conversation head of the user (one point read each, in parallel) and sorts them:
   * the price of writing one head per message rather than one list row per participant per
   * message. A user's list is bounded by their conversations, and the heads are small rows.
   */
  async listConversations(userId: string, limit: number, beforeMessageId?: bigint): Promise<ConversationPage> {
    const n = pageLimit(limit);
    const before = beforeMessageId !== undefined && beforeMessageId <= MAX_STORABLE_ID ? beforeMessageId : undefined;
    const entries = await this.session.selectAll('list conversations', this.q.userConversations, [userId]);
    const heads = await mapConcurrent(entries, HEAD_READS_IN_FLIGHT, (row) => this.readHead(textColumn(row, 'conversation_id')));
    const page = heads
      .filter((head): head is StoredMessage => head !== undefined && (before === undefined || head.id < before))
      .sort((a, b) => (a.id > b.id ? -1 : a.id < b.id ? 1 : 0))
      .slice(0, n + 1);
    const conversations: ConversationSummary[] = page
      .slice(0, n)
      .map((head) => ({ conversationId: head.conversationId, lastMessage: toChatMessage(head), unreadCount: 0, readUpToMessageId: '0', othersDeliveredUpToMessageId: '0', othersReadUpToMessageId: '0' }));
    return { conversations, hasMore: page.length > n };
  }

  async hasConversation(userId: string, conversationId: string): Promise<boolean> {
    const result = await this.session.execute('read conversation list', this.q.inList, [userId, conversationId], { idempotent: true });
    return result.rowLength > 0;
  }

  /**
   * One single-partition batch. Each cursor's id and `exact` are one statement written `USING
   * TIMESTAMP <id>`: the greater id wins both cells whatever the order of saves, and at an equal
   * id Cassandra keeps the greater value, true over false, so exact wins over a hint
   * (laterCursor's rule). `exact` is always written (false too), so a newer hint never keeps an
   * older position's true.
   */
  async saveDeviceCursors(userId: string, deviceId: string, cursors: ReadonlyMap<string, DeviceCursor>): Promise<void> {
    for (const [conversationId, c] of cursors) assertStorableId(c.messageId, `cursor of ${conversationId}`);
    if (cursors.size === 0) return;
    const batch = [...cursors].map(([conversationId, c]) => ({
      query: this.q.saveCursor,
      params: [userId, deviceId, conversationId, c.messageId, c.exact, c.messageId],
    }));
    await this.session.batch('save device cursors', batch, { logged: false, idempotent: true });
  }

  /** A cursor saved before `exact` existed reads as a hint. */
  async loadDeviceCursors(userId: string, deviceId: string): Promise<Map<string, DeviceCursor>> {
    const rows = await this.session.selectAll('load device cursors', this.q.cursors, [userId, deviceId]);
    return new Map(rows.map((row) => [textColumn(row, 'conversation_id'), { messageId: bigintColumn(row, 'message_id'), exact: row.get('exact') === true }]));
  }

  /** Closes the session only when constructed with `ownsSession: true`; otherwise a no-op. */
  async close(): Promise<void> {
    if (this.ownsSession) await this.session.close();
  }

  /**
   * Makes a claimed message durable, with the conversation's head and the list entries, in one
   * logged batch (atomic across its partitions). Entries and index rows this process already wrote
   * are skipped; they are only remembered once the batch succeeded.
   */
  private async write(message: StoredMessage, participantIds: readonly string[]): Promise<void> {
    const { conversationId, id } = message;
    const bucket = bucketOf(id);
    const indexKey = bucketKey(conversationId, bucket);
    const newEntries = [...new Set(participantIds)].filter((userId) => !this.listed.has(listKey(userId, conversationId)));
    const batch: BatchStatement[] = [
      {
        query: this.q.insertMessage,
        params: [conversationId, bucket, id, message.senderId, message.clientMsgId, message.body, message.createdAt, message.seq, message.epoch],
      },
      {
        query: this.q.advanceConversation,
        params: [conversationId, id, message.senderId, message.clientMsgId, message.body, message.createdAt, message.seq, message.epoch, id],
      },
    ];
    if (!this.indexedBuckets.has(indexKey)) batch.push({ query: this.q.addBucket, params: [conversationId, bucket] });
    if (newEntries.length <= INLINE_LIST_ENTRIES) {
      for (const userId of newEntries) batch.push({ query: this.q.addUserConversation, params: [userId, conversationId] });
    } else {
      // A large first fan-out would make a large multi-partition batch; write those entries first.
      await mapConcurrent(newEntries, this.writeConcurrency, (userId) =>
        this.session.execute('add to conversation list', this.q.addUserConversation, [userId, conversationId], { idempotent: true }),
      );
    }
    await this.session.batch('append message', batch, { logged: true, idempotent: true });
    this.indexedBuckets.add(indexKey);
    for (const userId of newEntries) this.listed.add(listKey(userId, conversationId));
  }

  /**
   * Claims the message's client key. A claim whose Paxos round failed (a duplicate send racing it)
   * may or may not have applied; claiming again settles it, since a claim that had applied answers
   * "not applied" with this message's own id, which `append` treats as its own.
   */
  private async claim(draft: StoredMessage): Promise<types.ResultSet> {
    for (let round = 0; ; round++) {
      try {
        return await this.session.execute(
          'claim client message id',
          this.q.claimClientKey,
          [draft.senderId, draft.clientMsgId, draft.conversationId, draft.id, draft.body, draft.createdAt, draft.seq, draft.epoch],
          { idempotent: true },
        );
      } catch (err) {
        if (!isLwtContention(err) || round >= CLAIM_ROUNDS - 1) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * 2 ** round));
      }
    }
  }

  private async readMessage(conversationId: string, id: bigint): Promise<StoredMessage | undefined> {
    const result = await this.session.execute('read message', this.q.messageById, [conversationId, bucketOf(id), id], { idempotent: true });
    const row = result.first();
    return row ? messageFromRow(row) : undefined;
  }

  private async readHead(conversationId: string): Promise<StoredMessage | undefined> {
    const result = await this.session.execute('read conversation head', this.q.conversationHead, [conversationId], { idempotent: true });
    const row = result.first();
    if (!row || row.get('last_message_id') === null) return undefined;
    return {
      id: bigintColumn(row, 'last_message_id'),
      conversationId,
      senderId: textColumn(row, 'last_sender_id'),
      clientMsgId: textColumn(row, 'last_client_msg_id'),
      body: textColumn(row, 'last_body'),
      createdAt: dateColumn(row, 'last_created_at'),
      seq: positionColumn(row, 'last_seq'),
      epoch: positionColumn(row, 'last_epoch'),
    };
  }

  /**
   * Up to `want` messages strictly past `cursor` in the direction of paging, walking only the
   * conversation's non-empty buckets (from its bucket index) until the page is full or the index
   * ends. Each bucket is asked for just the rows still missing, so no call reads more than
   * `want` messages.
   */
  private async walk(conversationId: string, direction: 'forwards' | 'backwards', cursor: bigint | undefined, want: number): Promise<StoredMessage[]> {
    const forwards = direction === 'forwards';
    const out: StoredMessage[] = [];
    let from = cursor === undefined ? (forwards ? 0 : MAX_BUCKET) : bucketOf(cursor);
    for (;;) {
      const index = await this.session.execute(
        'read bucket index',
        forwards ? this.q.bucketsUp : this.q.bucketsDown,
        [conversationId, from, BUCKETS_PER_READ],
        { idempotent: true },
      );
      const buckets = index.rows.map((row) => intColumn(row, 'bucket'));
      for (const bucket of buckets) {
        // Only the cursor's own bucket can hold rows on the wrong side of the cursor.
        const bounded = cursor !== undefined && bucket === bucketOf(cursor);
        const [query, params] = bounded
          ? [forwards ? this.q.pageAfter : this.q.pageBefore, [conversationId, bucket, cursor, want - out.length]]
          : [forwards ? this.q.bucketOldest : this.q.bucketNewest, [conversationId, bucket, want - out.length]];
        const page = await this.session.execute('read messages', query, params, { idempotent: true });
        out.push(...page.rows.map(messageFromRow));
        if (out.length >= want) return out;
      }
      const last = buckets.at(-1);
      if (buckets.length < BUCKETS_PER_READ || last === undefined) return out;
      from = forwards ? last + 1 : last - 1;
      if (from < 0) return out;
    }
  }
}

/** Callers validate page sizes; this only keeps a bad value from reaching CQL as a huge LIMIT. */
function pageLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`);
  return limit;
}
