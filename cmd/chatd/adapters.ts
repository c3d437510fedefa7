import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Bus } from '../../internal/bus/bus';
import { KafkaBus } from '../../internal/bus/bus-kafka';
import { MemoryBus } from '../../internal/bus/bus-memory';
import { prefixedBus } from '../../internal/bus/bus-prefixed';
import { CassandraSession, parseContactPoints } from '../../internal/cassandra/cassandra-session';
import type { Config } from '../../internal/config/config';
import { withDeadline } from '../../internal/deadline/with-deadline';
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
import { RedisSessionStore, sessionRedisOptions } from '../../internal/session/session-store-redis';
import { leasedIds, type IdSource } from '../../internal/snowflake/id-source';
import { SnowflakeGenerator } from '../../internal/snowflake/snowflake';
import { RedisWorkerLease } from '../../internal/snowflake/worker-lease-redis';
import { openSqliteDatabase } from '../../internal/sqlite/sqlite-database';

/** The backing stores of one process, chosen by CHAT_BUS / CHAT_SESSIONS / CHAT_STORE. */
export interface Adapters {
  bus: Bus;
  sessions: SessionStore;
  messages: MessageStore;
  groups: GroupStore;
  receipts: ReceiptStore;
  ids: IdSource;
  /** Called (once) when the process must stop serving, e.g. its worker-id lease was lost. */
  onFatal(listener: (reason: Error) => void): void;
  close(): Promise<void>;
}

/**
 * Opens the adapters the configuration names: the embedded ones (in-process bus, memory sessions,
 * SQLite) by default, Kafka / Redis / Cassandra when selected. Fails with the engine named when
 * one cannot be reached within CHAT_ENGINE_TIMEOUT_MS.
 */
export async function openAdapters(config: Config, log: Logger): Promise<Adapters> {
  const closers: Array<() => Promise<void> | void> = [];
  const fatal: Array<(reason: Error) => void> = [];
  try {
    const bus = await openBus(config, log);
    closers.push(() => bus.close());
    const { messages, groups, receipts } = await openStores(config, closers);
    const { sessions, ids } = await openSessions(config, log, closers, (err) => fatal.forEach((f) => f(err)));
    return {
      bus,
      sessions,
      messages,
      groups,
      receipts,
      ids,
      onFatal: (listener) => void fatal.push(listener),
      close: () => closeAll(closers),
    };
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}

async function openBus(config: Config, log: Logger): Promise<Bus> {
  switch (config.bus) {
    case 'memory':
      return new MemoryBus(log);
    case 'kafka':
      return prefixedBus(
        await KafkaBus.start({
        brokers: config.kafkaBrokers!.split(',').map((b) => b.trim()),
        clientId: config.serverId,
        log,
        defaultTopic: { numPartitions: config.kafkaPartitions, replicationFactor: config.kafkaReplicationFactor },
          timeouts: { startupMs: config.engineTimeoutMs * 3, publishMs: config.engineTimeoutMs },
        }),
        config.kafkaTopicPrefix ?? '',
      );
  }
}

async function openStores(config: Config, closers: Array<() => Promise<void> | void>): Promise<{ messages: MessageStore; groups: GroupStore; receipts: ReceiptStore }> {
  switch (config.store) {
    case 'sqlite': {
      const db = openSqliteDatabase({ path: join(config.dataDir, 'chat.sqlite'), synchronous: config.sqliteSynchronous });
      closers.push(() => void db.close());
      return { messages: new SqliteMessageStore({ db }), groups: new SqliteGroupStore({ db }), receipts: new SqliteReceiptStore({ db }) };
    }
    case 'cassandra': {
      const session = new CassandraSession({
        contactPoints: parseContactPoints(config.cassandraContactPoints!),
        localDataCenter: config.cassandraLocalDc,
        keyspace: config.cassandraKeyspace,
        replication: { class: 'SimpleStrategy', replicationFactor: config.cassandraReplicationFactor },
        consistency: config.cassandraConsistency,
        connectTimeoutMs: config.engineTimeoutMs,
        requestTimeoutMs: config.engineTimeoutMs,
      });
      closers.push(() => session.close());
      return { messages: await CassandraMessageStore.open({ session }), groups: await CassandraGroupStore.open({ session }), receipts: await CassandraReceiptStore.open({ session }) };
    }
  }
}

async function openSessions(config: Config, log: Logger, closers: Array<() => Promise<void> | void>, fatal: (err: Error) => void): Promise<{ sessions: SessionStore; ids: IdSource }> {
  switch (config.sessions) {
    case 'memory':
      // One process: the configured worker id is ours alone.
      return { sessions: new MemorySessionStore(), ids: new SnowflakeGenerator({ workerId: config.workerId }) };
    case 'redis': {
      const redis = new Redis(config.redisUrl!, sessionRedisOptions(config.engineTimeoutMs));
      closers.push(async () => void (await redis.quit().catch(() => redis.disconnect())));
      await connectRedis(redis, config, log);
      const lease = new RedisWorkerLease({ redis, keyPrefix: config.redisKeyPrefix, commandTimeoutMs: config.engineTimeoutMs, ttlMs: config.workerLeaseTtlMs });
      const workerId = await lease.acquire();
      closers.unshift(() => lease.release());
      lease.onLost(fatal);
      return {
        sessions: new RedisSessionStore({ redis, keyPrefix: `${config.redisKeyPrefix}sessions:`, commandTimeoutMs: config.engineTimeoutMs }),
        ids: leasedIds(new SnowflakeGenerator({ workerId }), lease),
      };
    }
  }
}

async function connectRedis(redis: Redis, config: Config, log: Logger): Promise<void> {
  // ioredis reports connection trouble as events; keep the latest for the startup error, and log
  // later ones (it reconnects by itself; calls fail fast with UNAVAILABLE meanwhile).
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    if (lastError === undefined || lastError.message !== err.message) log.warn({ err: err.message }, 'redis connection error');
    lastError = err;
  });
  try {
    await withDeadline(redis.connect(), config.engineTimeoutMs, `connecting to Redis at ${config.redisUrl}`);
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot connect to Redis at ${config.redisUrl}: ${(lastError ?? err as Error).message}`, { cause: err });
  }
}

async function closeAll(closers: Array<() => Promise<void> | void>): Promise<void> {
  for (const close of closers.reverse()) {
    try {
      await close();
    } catch {
      // Closing is best effort: the process is going away.
    }
  }
}
