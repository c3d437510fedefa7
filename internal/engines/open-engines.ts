import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { Bus } from '../bus/bus';
import { KafkaBus } from '../bus/bus-kafka';
import { prefixedBus } from '../bus/bus-prefixed';
import { CassandraSession, parseContactPoints } from '../cassandra/cassandra-session';
import type { Config } from '../config/config';
import { withDeadline } from '../deadline/with-deadline';
import type { IdSource } from '../snowflake/id-source';
import { LeasedIdSource } from '../snowflake/leased-id-source';
import { RedisWorkerLease } from '../snowflake/worker-lease-redis';
import type { ChatMetrics } from '../telemetry/metrics';
import { createRedisClient, describeRedisTarget, type RedisClient, type RedisTarget } from './redis-client';

/** Something opened that must be closed, in reverse order, when the process stops. */
export type Closer = () => Promise<void> | void;

/**
 * Opening the real engines, shared by `chatd` (when configured for them) and every process of
 * the mesh. Each call fails with the engine named when it cannot be reached within
 * CHAT_ENGINE_TIMEOUT_MS, and registers how to close what it opened.
 */
/** The Kafka bus of a process; its brokers requests are counted in `metrics` (chat_kafka_requests_total) when given. */
export async function openKafkaBus(config: Config, log: Logger, clientId: string, closers: Closer[], metrics?: ChatMetrics): Promise<Bus> {
  const bus = prefixedBus(
    await KafkaBus.start({
      brokers: config.kafkaBrokers!.split(',').map((b) => b.trim()),
      clientId,
      log,
      defaultTopic: { numPartitions: config.kafkaPartitions, replicationFactor: config.kafkaReplicationFactor, minInsyncReplicas: config.kafkaMinInsyncReplicas },
      timeouts: { startupMs: config.engineTimeoutMs * 3, publishMs: config.engineTimeoutMs },
      onRequest: metrics && ((api) => metrics.kafkaRequests.inc({ api })),
      lingerMs: config.kafkaLingerMs,
    }),
    config.kafkaTopicPrefix ?? '',
  );
  closers.push(() => bus.close());
  return bus;
}

export function openCassandra(config: Config, closers: Closer[]): CassandraSession {
  const session = new CassandraSession({
    contactPoints: parseContactPoints(config.cassandraContactPoints!),
    localDataCenter: config.cassandraLocalDc,
    keyspace: config.cassandraKeyspace,
    replication: { class: 'SimpleStrategy', replicationFactor: config.cassandraReplicationFactor },
    consistency: config.cassandraConsistency,
    speculativeDelayMs: config.cassandraSpeculativeDelayMs,
    connectTimeoutMs: config.engineTimeoutMs,
    requestTimeoutMs: config.engineTimeoutMs,
  });
  closers.push(() => session.close());
  return session;
}

/**
 * The Redis of a process: a single server (CHAT_REDIS_URL), the primary that Sentinel names
 * (CHAT_REDIS_SENTINELS) or a Redis Cluster (CHAT_REDIS_CLUSTER_NODES); see createRedisClient.
 */
export async function openRedis(config: Config, log: Logger, closers: Closer[]): Promise<RedisClient> {
  const target: RedisTarget = { url: config.redisUrl, sentinels: config.redisSentinels, sentinelName: config.redisSentinelName, clusterNodes: config.redisClusterNodes };
  const where = describeRedisTarget(target);
  const redis = createRedisClient(target, config.engineTimeoutMs);
  closers.push(async () => void (await redis.quit().catch(() => redis.disconnect())));
  // ioredis reports connection trouble as events; keep the latest for the startup error, and log
  // later ones (it reconnects by itself; calls fail fast with UNAVAILABLE meanwhile). A Cluster
  // reports its nodes' errors as 'node error'.
  let lastError: Error | undefined;
  const onError = (err: Error) => {
    if (lastError === undefined || lastError.message !== err.message) log.warn({ err: err.message }, 'redis connection error');
    lastError = err;
  };
  redis.on('error', onError);
  if (redis instanceof Cluster) redis.on('node error', onError);
  try {
    await withDeadline(redis.connect(), config.engineTimeoutMs, `connecting to ${where}`);
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot connect to ${where}: ${(lastError ?? (err as Error)).message}`, { cause: err });
  }
  return redis;
}

/**
 * Snowflake ids under a worker id leased in Redis, so two live processes never share one. A lost
 * lease (Redis forgot it, renewals stalled past the TTL) refuses ids until a new one is acquired in
 * place, retried every tenth of the TTL and backing off (see LeasedIdSource); the process stays
 * up. The lease is released on close.
 */
export async function leasedWorkerIds(redis: RedisClient, config: Config, log: Logger, closers: Closer[]): Promise<IdSource> {
  const ids = new LeasedIdSource({
    newLease: () => new RedisWorkerLease({ redis, keyPrefix: config.redisKeyPrefix, commandTimeoutMs: config.engineTimeoutMs, ttlMs: config.workerLeaseTtlMs }),
    retryMs: Math.ceil(config.workerLeaseTtlMs / 10),
    log,
  });
  await ids.start();
  // Released before the Redis connection closes (closers run in reverse).
  closers.push(() => ids.close());
  return ids;
}

/** Runs closers in reverse order, best effort: the process is going away. */
export async function closeAll(closers: Closer[]): Promise<void> {
  for (const close of closers.splice(0).reverse()) {
    try {
      await close();
    } catch {
      // Best effort.
    }
  }
}
