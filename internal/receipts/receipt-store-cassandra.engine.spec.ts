import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { dropKeyspace } from '../cassandra/cassandra-migrations';
import { CassandraSession } from '../cassandra/cassandra-session';
import { cassandraTestOptions } from '../cassandra/testing/cassandra-test-options';
import { receiptStoreContract } from './receipt-store.contract';
import { CassandraReceiptStore } from './receipt-store-cassandra';

const { options } = cassandraTestOptions('receipts');
const DELIVERED = ReceiptKind.RECEIPT_KIND_DELIVERED;

let session: CassandraSession;
let shared: CassandraReceiptStore;
before(async () => {
  session = new CassandraSession(options());
  shared = await CassandraReceiptStore.open({ session });
});
after(async () => {
  await dropKeyspace(session);
  await session.close();
});

receiptStoreContract('cassandra', () => Promise.resolve({ store: shared, cleanup: () => shared.close() }));
receiptStoreContract('cassandra, remembering nothing', async () => {
  const store = await CassandraReceiptStore.open({ session, watermarksRemembered: 0 });
  return { store, cleanup: () => store.close() };
});

describe('CassandraReceiptStore with another writer', () => {
  it('keeps the other writer\'s higher watermark though it remembers a lower one, and answers false exactly', async () => {
    const [here, there] = [await CassandraReceiptStore.open({ session }), await CassandraReceiptStore.open({ session })];
    const run = randomUUID().slice(0, 8);
    const [c, u] = [`dm:a${run}:b${run}`, `b${run}`];
    const at = (messageId: bigint) => [{ conversationId: c, userId: u, kind: DELIVERED, messageId }] as const;
    assert.deepEqual(await here.advanceMany(at(100n)), [true]);
    assert.deepEqual(await there.advanceMany(at(300n)), [true]);
    // `here` remembers 100 and writes 200 without reading: the stored 300 stays, and its `true` only repeats a receipt.
    await here.advanceMany(at(200n));
    assert.equal((await there.conversation(c)).get(u)?.delivered, 300n);
    assert.deepEqual(await here.advanceMany(at(150n)), [false], 'below what it wrote itself');
    assert.equal(await here.advance(c, u, DELIVERED, 250n), false, 'a single advance reads past what it remembers');
    assert.deepEqual(await here.advanceMany(at(250n)), [false], 'and remembers what it read');
  });
});
