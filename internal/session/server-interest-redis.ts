import type { RedisClient } from '../engines/redis-client';

/**
 * KEYS[1]: one user's sorted set (member = chat server id, score = expiry ms). ARGV: server id,
 * expiry, now, ttl. Drops lapsed members, keeps the later expiry of the server, and makes the key
 * live at least `ttl` more, so an idle key vanishes once its last member lapsed (about then: the
 * scores are the caller's clock, the key TTL Redis's).
 */
const ADD = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local expiry = tonumber(ARGV[2])
local current = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if not current or current < expiry then redis.call('ZADD', KEYS[1], expiry, ARGV[1]) end
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
`;

type AddScript = (key: string, serverId: string, expiryMs: number, nowMs: number, ttlMs: number) => Promise<unknown>;
type Run = <T>(what: string, call: () => Promise<T>) => Promise<T>;

/**
 * Per user, the chat servers interested in it until an expiry, on Redis (the Redis half of the
 * SessionStore's presence watchers and locators): one sorted set per user, so every command
 * touches one key and the layout works on Redis Cluster (the key's `{user}` hash tag). The
 * commands of one call are sent together (the client auto-pipelines), one per user.
 */
export class RedisServerInterest {
  private readonly addScript: AddScript;

  constructor(
    private readonly redis: RedisClient,
    /** The user's key, hash-tagged by user. */
    private readonly keyOf: (userId: string) => string,
    /** Runs a call under the store's deadline and error mapping. */
    private readonly run: Run,
  ) {
    const command = 'chatSessionInterestAdd';
    redis.defineCommand(command, { lua: ADD, numberOfKeys: 1 });
    const fn = (redis as unknown as Record<string, AddScript>)[command];
    this.addScript = (...args) => fn.apply(redis, args);
  }

  async add(serverId: string, userIds: readonly string[], nowMs: number, ttlMs: number): Promise<void> {
    if (userIds.length === 0) return;
    await this.run('interest add', () => Promise.all(userIds.map((u) => this.addScript(this.keyOf(u), serverId, nowMs + ttlMs, nowMs, ttlMs))));
  }

  /** Per user, the servers whose expiry is after `nowMs`. Read-only: lapsed members are trimmed by adds. */
  live(userIds: readonly string[], nowMs: number): Promise<string[][]> {
    if (userIds.length === 0) return Promise.resolve([]);
    return this.run('interest read', () => Promise.all(userIds.map((u) => this.redis.zrangebyscore(this.keyOf(u), `(${nowMs}`, '+inf'))));
  }
}
