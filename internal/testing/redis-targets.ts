import { describe } from 'node:test';
import { Cluster } from 'ioredis';
import { createRedisClient, type RedisClient, type RedisTarget } from '../engines/redis-client';
import { requireEngineEnv } from './engines';

/** One Redis deployment that the engine tests run a suite on. */
export interface RedisTestTarget {
  /** `redis` (one server, CHAT_REDIS_URL) or `redis-cluster` (CHAT_REDIS_CLUSTER_NODES), for test names. */
  readonly name: 'redis' | 'redis-cluster';
  /** What createRedisClient takes. */
  readonly target: RedisTarget;
  /**
   * A new client with the options of the chat processes (createRedisClient: no offline queue, no
   * resend), connected, with connections of its own as a separate process would have. The caller
   * quits it.
   */
  connect(commandTimeoutMs?: number): Promise<RedisClient>;
}

/**
 * The single Redis and the Redis Cluster of the engine tests. Throws (a failed run, never a skip)
 * when CHAT_REDIS_URL or CHAT_REDIS_CLUSTER_NODES is missing.
 */
export function redisTestTargets(): RedisTestTarget[] {
  const single: RedisTarget = { url: requireEngineEnv('CHAT_REDIS_URL') };
  const cluster: RedisTarget = { clusterNodes: requireEngineEnv('CHAT_REDIS_CLUSTER_NODES') };
  const connector = (target: RedisTarget) => async (commandTimeoutMs = 2_000) => {
    const client = createRedisClient(target, commandTimeoutMs);
    await client.connect();
    return client;
  };
  return [
    { name: 'redis', target: single, connect: connector(single) },
    { name: 'redis-cluster', target: cluster, connect: connector(cluster) },
  ];
}

/**
 * Registers `suite` once for each Redis deployment of {@link redisTestTargets}, each time inside a
 * `describe` of its own (`on redis`, `on redis-cluster`), so the suite's hooks stay with its target.
 * Call it at the top level of a `*.engine.spec.ts`.
 */
export function forEachRedis(suite: (redis: RedisTestTarget) => void): void {
  for (const target of redisTestTargets()) {
    describe(`on ${target.name}`, () => suite(target));
  }
}

/**
 * Unlinks every key that starts with `prefix` (glob characters in it match as such). On a Cluster
 * every primary is scanned and the keys go one command each: they lie in different slots.
 */
export async function deleteKeys(client: RedisClient, prefix: string): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    for await (const keys of node.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
      if (client instanceof Cluster) await Promise.all(keys.map((k) => client.unlink(k)));
      else if (keys.length > 0) await client.unlink(...keys);
    }
  }
}

/** The hash slot of each key, as the Cluster computes it (`CLUSTER KEYSLOT`): a script's keys must share one. */
export async function keySlots(cluster: Cluster, keys: readonly string[]): Promise<number[]> {
  return Promise.all(keys.map(async (k) => Number(await cluster.call('CLUSTER', 'KEYSLOT', k))));
}
