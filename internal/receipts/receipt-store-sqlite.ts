import { ReceiptKind } from '../../gen/chat/v1/message';
import type { SqliteDatabase, SqliteStatement as Stmt } from '../sqlite/sqlite-database';
import { settle } from '../sqlite/settle';
import { migrateSchema } from '../sqlite/sqlite-migrations';
import { assertStorableId } from '../snowflake/storable-id';
import type { ReceiptAdvance, ReceiptStore, StoredReceiptKind, Watermarks } from './receipt-store';

/** The receipts table, in the shape of the Cassandra one. Append-only: never edit a released script. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE receipts (
     conversation_id TEXT    NOT NULL,
     user_id         TEXT    NOT NULL,
     delivered_up_to INTEGER NOT NULL DEFAULT 0,
     read_up_to      INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (conversation_id, user_id)
   ) WITHOUT ROWID;`,
];

interface Row {
  user_id: string;
  conversation_id: string;
  delivered_up_to: bigint;
  read_up_to: bigint;
}

/** Options of {@link SqliteReceiptStore}. */
export interface SqliteReceiptStoreOptions {
  /** The connection, usually shared with the other embedded stores. */
  db: SqliteDatabase;
  /** Whether `close()` closes `db` (false, the default, for a shared connection). */
  ownsDb?: boolean;
}

/**
 * ReceiptStore on SQLite, for `chatd` (schema owner "receipts"). An advance is one IMMEDIATE
 * transaction: read the watermark, raise it with `max()` only when lower; `advanceMany` does every
 * entry in one such transaction (one commit, so one fsync, per flush). Answers are exact: this
 * process is the only writer.
 */
export class SqliteReceiptStore implements ReceiptStore {
  private readonly db: SqliteDatabase;
  private readonly ownsDb: boolean;
  private readonly one: Stmt<[string, string], Row>;
  private readonly all: Stmt<[string], Row>;
  private readonly raise: Record<StoredReceiptKind, Stmt<[string, string, bigint]>>;
  private readonly advanceTx: (conversationId: string, userId: string, kind: StoredReceiptKind, messageId: bigint) => boolean;
  private readonly advanceManyTx: (entries: readonly ReceiptAdvance[]) => boolean[];

  constructor(options: SqliteReceiptStoreOptions) {
    this.db = options.db;
    this.ownsDb = options.ownsDb ?? false;
    migrateSchema(this.db, 'receipts', MIGRATIONS);
    const columns = 'conversation_id, user_id, delivered_up_to, read_up_to';
    this.one = this.db.prepare<[string, string], Row>(`SELECT ${columns} FROM receipts WHERE conversation_id = ? AND user_id = ?`).safeIntegers(true);
    this.all = this.db.prepare<[string], Row>(`SELECT ${columns} FROM receipts WHERE conversation_id = ?`).safeIntegers(true);
    const raise = (column: string) =>
      this.db.prepare<[string, string, bigint]>(`INSERT INTO receipts (conversation_id, user_id, ${column}) VALUES (?, ?, ?)
        ON CONFLICT (conversation_id, user_id) DO UPDATE SET ${column} = max(${column}, excluded.${column})`);
    this.raise = { [ReceiptKind.RECEIPT_KIND_DELIVERED]: raise('delivered_up_to'), [ReceiptKind.RECEIPT_KIND_READ]: raise('read_up_to') };
    const raiseIfLower = (conversationId: string, userId: string, kind: StoredReceiptKind, messageId: bigint): boolean => {
      const row = this.one.get(conversationId, userId);
      const current = row ? (kind === ReceiptKind.RECEIPT_KIND_READ ? row.read_up_to : row.delivered_up_to) : 0n;
      if (current >= messageId) return false;
      this.raise[kind].run(conversationId, userId, messageId);
      return true;
    };
    const tx = this.db.transaction(raiseIfLower);
    this.advanceTx = (c, u, k, m) => tx.immediate(c, u, k, m);
    const manyTx = this.db.transaction((entries: readonly ReceiptAdvance[]) => entries.map((e) => raiseIfLower(e.conversationId, e.userId, e.kind, e.messageId)));
    this.advanceManyTx = (entries) => manyTx.immediate(entries);
  }

  advance(conversationId: string, userId: string, kind: StoredReceiptKind, messageId: bigint): Promise<boolean> {
    return settle(() => this.advanceTx(conversationId, userId, kind, assertStorableId(messageId, 'receipt watermark')));
  }

  advanceMany(entries: readonly ReceiptAdvance[]): Promise<boolean[]> {
    return settle(() => {
      for (const e of entries) assertStorableId(e.messageId, 'receipt watermark');
      return entries.length === 0 ? [] : this.advanceManyTx(entries);
    });
  }

  conversation(conversationId: string): Promise<Map<string, Watermarks>> {
    return settle(() => new Map(this.all.all(conversationId).map((row) => [row.user_id, watermarks(row)])));
  }

  ofUser(userId: string, conversationIds: readonly string[]): Promise<Map<string, Watermarks>> {
    return settle(() => {
      const out = new Map<string, Watermarks>();
      for (const conversationId of new Set(conversationIds)) {
        const row = this.one.get(conversationId, userId);
        if (row) out.set(conversationId, watermarks(row));
      }
      return out;
    });
  }

  /** Closes the connection only when constructed with `ownsDb: true`. */
  close(): Promise<void> {
    return settle(() => {
      if (this.ownsDb && this.db.open) this.db.close();
    });
  }
}

function watermarks(row: Row): Watermarks {
  return { delivered: row.delivered_up_to, read: row.read_up_to };
}
