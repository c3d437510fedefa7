import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { receiptStoreContract } from './receipt-store.contract';
import { SqliteReceiptStore } from './receipt-store-sqlite';

receiptStoreContract('sqlite :memory:', () => {
  const store = new SqliteReceiptStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
  return Promise.resolve({ store, cleanup: () => store.close() });
});

describe('SqliteReceiptStore', () => {
  it('keeps watermarks across reopening the file, next to the other stores', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'receipts-sqlite-'));
    const path = join(dir, 'chat.db');
    try {
      const first = new SqliteReceiptStore({ db: openSqliteDatabase({ path, synchronous: 'full' }), ownsDb: true });
      await first.advance('dm:a:b', 'b', ReceiptKind.RECEIPT_KIND_READ, 42n);
      await first.close();
      const db = openSqliteDatabase({ path, synchronous: 'normal' });
      const again = new SqliteReceiptStore({ db });
      assert.deepEqual(await again.ofUser('b', ['dm:a:b']), new Map([['dm:a:b', { delivered: 0n, read: 42n }]]));
      assert.deepEqual(db.prepare("SELECT version FROM schema_migrations WHERE owner = 'receipts'").all(), [{ version: 1 }]);
      await again.close();
      assert.equal(db.open, true, 'a shared connection stays open');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
