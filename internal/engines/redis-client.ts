import { Cluster, Redis, type RedisOptions } from 'ioredis';

/**
 * ioredis options every chat process's Redis client has (the session store checks them). A call the store reported as
 * failed must not take effect later: a registration replayed from ioredis's offline queue after a
 * reconnect would swallow the ONLINE transition its retry should report. So nothing is queued
 * while disconnected (calls fail fast with UNAVAILABLE) and nothing unanswered is resent. Connect
 * with `await redis.connect()` before the first call.
 */
export function sessionRedisOptions(commandTimeoutMs: number): RedisOptions {
  // Auto-pipelining: the commands of one event-loop turn (a turn's send claims, its session
  // scripts) leave in one socket write instead of one write each, the chat servers' largest
  // syscall cost under load (profiled: 40 % of their socket writes were single claims).
  return { lazyConnect: true, enableOfflineQueue: false, autoResendUnfulfilledCommands: false, commandTimeout: commandTimeoutMs, enableAutoPipelining: true };
}

/**
 * The client every Redis adapter takes: one Redis (standalone, or the primary that Sentinel names)
 * or a Redis Cluster. On a Cluster a command or script may touch only keys of one hash slot, so an
 * adapter's scripts declare every key they touch, and the keys of one script share a hash tag
 * (`{...}`); keys an adapter would probe one by one are touched by separate commands.
 */
export type RedisClient = Redis | Cluster;

/** Where a process finds Redis: a single server, the Sentinels of one, or the seed nodes of a Cluster. */
export interface RedisTarget {
  /** `redis://[:password@]host:port[/db]`. With `sentinels` or `clusterNodes` it gives only the password (and, with Sentinel, the database). */
  url?: string;
  /** Comma-separated host:port of the Sentinels to ask for the primary named `sentinelName`. */
  sentinels?: string;
  sentinelName?: string;
  /** Comma-separated host:port of some nodes of a Redis Cluster; the client learns the others from them. */
  clusterNodes?: string;
}

/** `a:1, b:2` -> [{host: 'a', port: 1}, {host: 'b', port: 2}]. */
export function parseHostPorts(list: string): { host: string; port: number }[] {
  return list.split(',').map((s) => {
    const [host, port] = s.trim().split(':');
    return { host, port: Number(port) };
  });
}

/** The target in words, for errors and logs. */
export function describeRedisTarget(target: RedisTarget): string {
  if (target.clusterNodes) return `the Redis Cluster at ${target.clusterNodes}`;
  if (target.sentinels) return `Redis through the Sentinels at ${target.sentinels} (primary ${target.sentinelName})`;
  return `Redis at ${target.url}`;
}

/**
 * A client for `target` with the options of every chat process (see {@link sessionRedisOptions}):
 * not connected yet (`await client.connect()` before the first call), nothing queued while
 * disconnected, nothing unanswered resent, each command bounded by `commandTimeoutMs`, the commands
 * of one event-loop turn auto-pipelined (on a Cluster: one pipeline per node).
 */
export function createRedisClient(target: RedisTarget, commandTimeoutMs: number): RedisClient {
  const options = sessionRedisOptions(commandTimeoutMs);
  const url = target.url ? new URL(target.url) : undefined;
  const password = url?.password ? decodeURIComponent(url.password) : undefined;
  if (target.clusterNodes) {
    const { lazyConnect, enableOfflineQueue, enableAutoPipelining, ...perNode } = options;
    return new Cluster(parseHostPorts(target.clusterNodes), {
      lazyConnect,
      enableOfflineQueue,
      enableAutoPipelining,
      // Every command on the primary of its slot: a replica may lag behind what was just written.
      scaleReads: 'master',
      // A command whose connection closed may have been applied: it fails (UNAVAILABLE to the
      // caller, who may retry) instead of being sent again after the failover, as a single Redis
      // never resends (autoResendUnfulfilledCommands). Refusals (MOVED, ASK, TRYAGAIN,
      // CLUSTERDOWN) were not applied and are still followed.
      retryDelayOnFailover: 0,
      redisOptions: { ...perNode, password },
    });
  }
  if (target.sentinels) {
    // ioredis asks the Sentinels for the current primary, and after a failover reconnects to the
    // promoted one. A command that reaches a demoted primary (READONLY) reconnects and is retried
    // there; others fail fast meanwhile (no offline queue), as with a plain Redis.
    return new Redis({
      ...options,
      sentinels: parseHostPorts(target.sentinels),
      name: target.sentinelName,
      password,
      db: url && url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    });
  }
  if (!target.url) throw new Error('a Redis target needs a URL, Sentinels or Cluster nodes');
  return new Redis(target.url, options);
}

/** The key prefix the client adds to every key itself, if any (adapters that build keys in scripts refuse one). */
export function clientKeyPrefix(client: RedisClient): string | undefined {
  const prefix = client instanceof Cluster ? client.options.keyPrefix || client.options.redisOptions?.keyPrefix : client.options.keyPrefix;
  return prefix || undefined;
}

/** Whether the client neither queues commands while disconnected nor resends unanswered ones (see sessionRedisOptions). */
export function failsFast(client: RedisClient): boolean {
  const perNode = client instanceof Cluster ? client.options.redisOptions : client.options;
  return client.options.enableOfflineQueue === false && perNode?.autoResendUnfulfilledCommands === false;
}

/** A Lua script registered on the client (EVALSHA, falling back to EVAL), called with its keys then its arguments. */
export type RedisScript = (...args: (string | number | Buffer)[]) => Promise<unknown>;

/**
 * Registers `lua` under `name` (prefix names per adapter: several adapters may share one client)
 * and returns a caller for it; with `buffers` its bulk replies come back as Buffers.
 */
export function defineScript(client: RedisClient, name: string, lua: string, numberOfKeys: number, opts: { buffers?: boolean } = {}): RedisScript {
  client.defineCommand(name, { lua, numberOfKeys });
  const fn = (client as unknown as Record<string, RedisScript>)[opts.buffers ? `${name}Buffer` : name];
  return (...args) => fn.apply(client, args);
}
