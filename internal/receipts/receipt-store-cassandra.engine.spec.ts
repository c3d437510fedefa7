import { after, before } from 'node:test';
import { dropKeyspace } from '../cassandra/cassandra-migrations';
import { CassandraSession } from '../cassandra/cassandra-session';
import { cassandraTestOptions } from '../cassandra/testing/cassandra-test-options';
import { receiptStoreContract } from './receipt-store.contract';
import { CassandraReceiptStore } from './receipt-store-cassandra';

const { options } = cassandraTestOptions('receipts');

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
