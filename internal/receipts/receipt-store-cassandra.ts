import type { types } from 'cassandra-driver';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { migrateKeyspace, type CqlMigrations } from '../cassandra/cassandra-migrations';
import { isNullColumn, bigintColumn, textColumn } from '../cassandra/cassandra-rows';
import type { CassandraSession } from '../cassandra/cassandra-session';
import { mapConcurrent } from '../cassandra/map-concurrent';
import { assertStorableId } from '../snowflake/storable-id';
import type { ReceiptStore, StoredReceiptKind, Watermarks } from './receipt-store';

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
];

/** Point reads in flight for `ofUser`. */
const READS_IN_FLIGHT = 32;

/** Options of {@link CassandraReceiptStore}. */
export interface CassandraReceiptStoreOptions {
  /** The session, possibly shared with other stores. */
  session: CassandraSession;
  /** Whether `close()` closes the session (false, the default, for a shared one). */
  ownsSession?: boolean;
}

/**
 * ReceiptStore on Cassandra, for the mesh. An advance costs one point read (to answer whether it
 * moved, and to skip a write that would not) and one write; correctness of the maximum does not
 * depend on the read (see MIGRATIONS).
 */
export class CassandraReceiptStore implements ReceiptStore {
  private readonly session: CassandraSession;
  private readonly ownsSession: boolean;
  private readonly q: ReturnType<typeof statements>;

  private constructor(options: CassandraReceiptStoreOptions) {
    this.session = options.session;
    this.ownsSession = options.ownsSession ?? false;
    this.q = statements((name) => this.session.table(name));
  }

  /** Migrates the receipts table (schema owner "receipts"), then returns the store. */
  static async open(options: CassandraReceiptStoreOptions): Promise<CassandraReceiptStore> {
    await migrateKeyspace(options.session, 'receipts', MIGRATIONS);
    return new CassandraReceiptStore(options);
  }

  async advance(conversationId: string, userId: string, kind: StoredReceiptKind, messageId: bigint): Promise<boolean> {
    assertStorableId(messageId, 'receipt watermark');
    const read = kind === ReceiptKind.RECEIPT_KIND_READ;
    const row = (await this.session.execute('read receipt', this.q.one, [conversationId, userId], { idempotent: true })).first();
    const current = row ? watermarks(row) : { delivered: 0n, read: 0n };
    if ((read ? current.read : current.delivered) >= messageId) return false;
    await this.session.execute(
      'advance receipt',
      read ? this.q.raiseRead : this.q.raiseDelivered,
      [messageId, messageId, conversationId, userId],
      { idempotent: true },
    );
    return true;
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
