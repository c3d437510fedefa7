import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Bus } from '../../internal/bus/bus';
import { MemoryBus } from '../../internal/bus/bus-memory';
import { serverLeaseTtlMs, type Config } from '../../internal/config/config';
import { closeAll, leasedWorkerIds, openCassandra, openKafkaBus, openRedis, type Closer } from '../../internal/engines/open-engines';
import type { GroupStore } from '../../internal/group/group-store';
import { CassandraGroupStore } from '../../internal/group/group-store-cassandra';
import { SqliteGroupStore } from '../../internal/group/group-store-sqlite';
import type { MessageStore } from '../../internal/history/message-store';
import { CassandraMessageStore } from '../../internal/history/message-store-cassandra';
import { SqliteMessageStore } from '../../internal/history/message-store-sqlite';
import type { ReceiptStore } from '../../internal/receipts/receipt-store';
import { CassandraReceiptStore } from '../../internal/receipts/receipt-store-cassandra';
import { SqliteReceiptStore } from '../../internal/receipts/receipt-store-sqlite';
import type { SessionStore } from '../../internal/session/session-store';
import { MemorySessionStore } from '../../internal/session/session-store-memory';
import { RedisSessionStore } from '../../internal/session/session-store-redis';
import type { IdSource } from '../../internal/snowflake/id-source';
import { SnowflakeGenerator } from '../../internal/snowflake/snowflake';
import { openSqliteDatabase } from '../../internal/sqlite/sqlite-database';
import { WalCheckpointer } from '../../internal/sqlite/wal-checkpointer';

/** The backing stores of one process, chosen by CHAT_BUS / CHAT_SESSIONS / CHAT_STORE. */
export interface Adapters {
  bus: Bus;
  sessions: SessionStore;
  messages: MessageStore;
  groups: GroupStore;
  receipts: ReceiptStore;
  ids: IdSource;
  close(): Promise<void>;
}

/**
 * Opens the adapters the configuration names: the embedded ones (in-process bus, memory sessions,
 * SQLite) by default, Kafka / Redis / Cassandra when selected. Fails with the engine named when
 * one cannot be reached within CHAT_ENGINE_TIMEOUT_MS.
 */
export async function openAdapters(config: Config, log: Logger): Promise<Adapters> {
  const closers: Closer[] = [];
  try {
    const bus = config.bus === 'kafka' ? await openKafkaBus(config, log, config.serverId, closers) : new MemoryBus(log);
    if (config.bus === 'memory') closers.push(() => bus.close());
    const { messages, groups, receipts } = await openStores(config, log, closers);
    const { sessions, ids } = await openSessions(config, log, closers);
    return { bus, sessions, messages, groups, receipts, ids, close: () => closeAll(closers) };
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}

/** How often the WAL is copied into the SQLite file, off the event loop (WalCheckpointer). */
const WAL_CHECKPOINT_INTERVAL_MS = 1000;

async function openStores(config: Config, log: Logger, closers: Closer[]): Promise<{ messages: MessageStore; groups: GroupStore; receipts: ReceiptStore }> {
  switch (config.store) {
    case 'sqlite': {
      const db = openSqliteDatabase({ path: join(config.dataDir, 'chat.sqlite'), synchronous: config.sqliteSynchronous });
      closers.push(() => void db.close());
      const checkpointer = WalCheckpointer.start(db, { intervalMs: WAL_CHECKPOINT_INTERVAL_MS, log });
      closers.push(() => checkpointer.stop());
      const writerThread = config.sqliteWriterThread ? { maxBatch: config.sqliteWriteMaxBatch, maxQueued: config.sqliteWriteMaxQueued, lingerMs: config.sqliteWriteLingerMs, log } : undefined;
      const messages = new SqliteMessageStore({ db, writerThread });
      // Closed before the connection (closers run in reverse): its writes still queued commit first.
      closers.push(() => messages.close());
      return { messages, groups: new SqliteGroupStore({ db }), receipts: new SqliteReceiptStore({ db }) };
    }
    case 'cassandra': {
      const session = openCassandra(config, closers);
      return { messages: await CassandraMessageStore.open({ session }), groups: await CassandraGroupStore.open({ session }), receipts: await CassandraReceiptStore.open({ session }) };
    }
  }
}

async function openSessions(config: Config, log: Logger, closers: Closer[]): Promise<{ sessions: SessionStore; ids: IdSource }> {
  switch (config.sessions) {
    case 'memory':
      // One process: the configured worker id is ours alone.
      return { sessions: new MemorySessionStore(), ids: new SnowflakeGenerator({ workerId: config.workerId }) };
    case 'redis': {
      const redis = await openRedis(config, log, closers);
      const ids = await leasedWorkerIds(redis, config, log, closers);
      return { sessions: new RedisSessionStore({ redis, keyPrefix: `${config.redisKeyPrefix}sessions:`, commandTimeoutMs: config.engineTimeoutMs, outageGraceMs: serverLeaseTtlMs(config) }), ids };
    }
  }
}
