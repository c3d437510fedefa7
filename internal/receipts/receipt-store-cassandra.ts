import type { types } from 'cassandra-driver';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { type CqlMigrations, migrateKeyspace, speculativeRetryMigration } from '../cassandra/cassandra-migrations';
import { isNullColumn, bigintColumn, textColumn } from '../cassandra/cassandra-rows';
import type { CassandraSession } from '../cassandra/cassandra-session';
import { mapConcurrent } from '../cassandra/map-concurrent';
import { assertStorableId } from '../snowflake/storable-id';
import type { ReceiptAdvance, ReceiptStore, StoredReceiptKind, Watermarks } from './receipt-store';
import { WatermarkCache, watermarkKey } from './watermark-cache';

/**
 * receipts: one partition per conversation, one row per user who has a watermark in it. Each
 * watermark cell is written `USING TIMESTAMP <message id>`: Cassandra keeps the cell with the
 * highest write timestamp, so the maximum wins whatever order writes arrive in, from any number of
 * processes, with no lightweight transaction (the device_cursors trick of the history store; the
 * keyspace's maximum_timestamp guardrail must stay off). Append-only: never edit a released
 * migration.
 */
const MIGRATIONS: CqlMigrations = [
  [
    `CREATE TABLE IF NOT EXISTS {keyspace}.receipts (
       conversation_id text, user_id text, delivered_up_to bigint, read_up_to bigint,
       PRIMARY KEY (conversation_id, user_id))`,
  ],
  speculativeRetryMigration(['receipts']),
];

/** Point reads in flight for `ofUser`. */
const READS_IN_FLIGHT = 32;
/** Watermarks in flight for one `advanceMany` (a flush of up to CHAT_ACK_MAX_BATCH). */
const ADVANCES_IN_FLIGHT = 32;
/**
 * Watermarks a store remembers by default (about 20 MB): more than the (conversation, user) pairs
 * a history service replica sees acknowledged within a few flushes at the case study's load per
 * replica; a forgotten pair costs one read again, nothing else.
 */
const WATERMARKS_REMEMBERED = 100_000;

/** Options of {@link CassandraReceiptStore}. */
export interface CassandraReceiptStoreOptions {
  /** The session, possibly shared with other stores. */
  session: CassandraSession;
  /** Whether `close()` closes the session (false, the default, for a shared one). */
  ownsSession?: boolean;
  /** How many watermarks it remembers to skip reads and no-op writes (0: none). */
  watermarksRemembered?: number;
}

/**
 * ReceiptStore on Cassandra, for the mesh. The maximum never depends on a read (see MIGRATIONS):
 * reads only answer whether a watermark moved. The store remembers what it read and wrote
 * ({@link WatermarkCache}), so:
 * - an advance to an id at or below a remembered value is answered `false` with no statement;
 * - `advance` (READ, whose `true` sends a group its summary) otherwise reads, then writes only when
 *   lower: exact answers, two statements;
 * - `advanceMany` (a chat server's DELIVERED flush) writes without reading a watermark it
 *   remembers: one statement per watermark that moves. Another process may have raised it since
 *   (a user's devices on several chat servers, several history service replicas), so its `true`
 *   may repeat a receipt, as the port allows. A watermark it does not remember is read first.
 */
export class CassandraReceiptStore implements ReceiptStore {
  private readonly session: CassandraSession;
  private readonly ownsSession: boolean;
  private readonly q: ReturnType<typeof statements>;
  private readonly seen: WatermarkCache;

  private constructor(options: CassandraReceiptStoreOptions) {
    this.session = options.session;
    this.ownsSession = options.ownsSession ?? false;
    this.q = statements((name) => this.session.table(name));
    this.seen = new WatermarkCache(options.watermarksRemembered ?? WATERMARKS_REMEMBERED);
  }

  /** Migrates the receipts table (schema owner "receipts"), then returns the store. */
  static async open(options: CassandraReceiptStoreOptions): Promise<CassandraReceiptStore> {
    await migrateKeyspace(options.session, 'receipts', MIGRATIONS);
    return new CassandraReceiptStore(options);
  }

  async advance(conversationId: string, userId: string, kind: StoredReceiptKind, messageId: bigint): Promise<boolean> {
    assertStorableId(messageId, 'receipt watermark');
    if ((this.seen.get(conversationId, userId, kind) ?? -1n) >= messageId) return false;
    return this.readThenRaise({ conversationId, userId, kind, messageId });
  }

  async advanceMany(entries: readonly ReceiptAdvance[]): Promise<boolean[]> {
    for (const e of entries) assertStorableId(e.messageId, 'receipt watermark');
    // Entries of one watermark apply in order; different watermarks in parallel.
    const byWatermark = new Map<string, number[]>();
    entries.forEach((e, i) => {
      const k = watermarkKey(e.conversationId, e.userId, e.kind);
      const same = byWatermark.get(k);
      if (same) same.push(i);
      else byWatermark.set(k, [i]);
    });
    const answers = new Array<boolean>(entries.length);
    await mapConcurrent([...byWatermark.values()], ADVANCES_IN_FLIGHT, async (indexes) => {
      for (const i of indexes) answers[i] = await this.advanceRemembered(entries[i]);
    });
    return answers;
  }

  private async advanceRemembered(e: ReceiptAdvance): Promise<boolean> {
    const known = this.seen.get(e.conversationId, e.userId, e.kind);
    if (known === undefined) return this.readThenRaise(e);
    if (known >= e.messageId) return false;
    await this.raise(e);
    return true;
  }

  private async readThenRaise(e: ReceiptAdvance): Promise<boolean> {
    const row = (await this.session.execute('read receipt', this.q.one, [e.conversationId, e.userId], { idempotent: true })).first();
    const current = row ? watermarks(row) : { delivered: 0n, read: 0n };
    const stored = e.kind === ReceiptKind.RECEIPT_KIND_READ ? current.read : current.delivered;
    this.seen.raise(e.conversationId, e.userId, e.kind, stored);
    if (stored >= e.messageId) return false;
    await this.raise(e);
    return true;
  }

  private async raise({ conversationId, userId, kind, messageId }: ReceiptAdvance): Promise<void> {
    const statement = kind === ReceiptKind.RECEIPT_KIND_READ ? this.q.raiseRead : this.q.raiseDelivered;
    await this.session.execute('advance receipt', statement, [messageId, messageId, conversationId, userId], { idempotent: true });
    this.seen.raise(conversationId, userId, kind, messageId);
  }

  async conversation(conversationId: string): Promise<Map<string, Watermarks>> {
    const rows = await this.session.selectAll('read conversation receipts', this.q.all, [conversationId]);
    return new Map(rows.map((row) => [textColumn(row, 'user_id'), watermarks(row)]));
  }

  async ofUser(userId: string, conversationIds: readonly string[]): Promise<Map<string, Watermarks>> {
    const ids = [...new Set(conversationIds)];
    const rows = await mapConcurrent(ids, READS_IN_FLIGHT, async (conversationId) =>
      (await this.session.execute('read receipt', this.q.one, [conversationId, userId], { idempotent: true })).first(),
    );
    const out = new Map<string, Watermarks>();
    rows.forEach((row, i) => {
      if (row) out.set(ids[i], watermarks(row));
    });
    return out;
  }

  /** Closes the session only when constructed with `ownsSession: true`. */
  async close(): Promise<void> {
    if (this.ownsSession) await this.session.close();
  }
}

function statements(t: (name: string) => string) {
  const columns = 'user_id, delivered_up_to, read_up_to';
  return {
    one: `SELECT ${columns} FROM ${t('receipts')} WHERE conversation_id = ? AND user_id = ?`,
    all: `SELECT ${columns} FROM ${t('receipts')} WHERE conversation_id = ?`,
    raiseDelivered: `UPDATE ${t('receipts')} USING TIMESTAMP ? SET delivered_up_to = ? WHERE conversation_id = ? AND user_id = ?`,
    raiseRead: `UPDATE ${t('receipts')} USING TIMESTAMP ? SET read_up_to = ? WHERE conversation_id = ? AND user_id = ?`,
  };
}

function watermarks(row: types.Row): Watermarks {
  return {
    delivered: isNullColumn(row, 'delivered_up_to') ? 0n : bigintColumn(row, 'delivered_up_to'),
    read: isNullColumn(row, 'read_up_to') ? 0n : bigintColumn(row, 'read_up_to'),
  };
}
