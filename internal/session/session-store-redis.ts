import type { Redis, RedisOptions } from 'ioredis';
import type { Connection } from '../../gen/chat/v1/session';
import { withDeadline } from '../deadline/with-deadline';
import { ChatError } from '../errors/chat-error';
import { RedisServerInterest } from './server-interest-redis';
import type { OfflineTransition, PresenceRecord, RegisterResult, SessionStore } from './session-store';

/** Options for {@link RedisSessionStore}. */
export interface RedisSessionStoreOptions {
  /**
   * The client, created with {@link sessionRedisOptions} (checked): its creator connects and quits
   * it. It has no `keyPrefix` of its own (the scripts build per-user keys from the one below).
   */
  redis: Redis;
  /** Prefix of every key, e.g. `chat:sessions:`; unique per deployment sharing the server. */
  keyPrefix: string;
  /** Deadline of every call; past it the call rejects with UNAVAILABLE (if Redis had the command, it may still apply). */
  commandTimeoutMs: number;
  /** Lapsed sessions one sweep script removes, so a backlog never blocks Redis for long. Default 256. */
  sweepBatch?: number;
}

/**
 * ioredis options a {@link RedisSessionStore} client must have. A call the store reported as
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

/*
 * Key layout, P = keyPrefix. Expiry times are the port's `nowMs` clock, never Redis TIME, so
 * every process (and the contract's fake clock) agrees on which sessions lapsed.
 *   P deadlines       zset  sessionId -> expiresAtMs   (source of truth for liveness; the sweep's index)
 *   P sessions        hash  sessionId -> userId        (refresh/unregister/sweep know only the session id)
 *   P conn:<user>     hash  sessionId -> JSON [deviceId, serverId, serverAddress]   (the connection map per user)
 *   P presence:<user> string last heartbeat ms, PX ttl (for outside readers; deleted on the offline
 *                     transition the sweep or unregister reports, and lapses by itself if nobody sweeps)
 *   P seen:<user>     string last-seen ms (no TTL: last seen outlives the connection)
 * A session belongs to the hashes iff it is in `deadlines`: every script changes all of them.
 * Which chat servers are interested in a user (see RedisServerInterest), one key per user and kind:
 *   P watchers:{<user>} zset  serverId -> expiry ms   (presence watchers; PEXPIRE'd, trimmed on add)
 *   P locators:{<user>} zset  serverId -> expiry ms   (servers caching the user's location; same)
 */

/** Shared Lua helpers: max of possibly-nil numbers; presence key refresh that never shortens its TTL. */
const LUA_PRELUDE = `
local function maxn(a, b) if not a then return b end if not b then return a end if a > b then return a end return b end
local function touch(P, user, now, ttl)
  local k = P .. 'presence:' .. user
  if redis.call('PTTL', k) < ttl then redis.call('SET', k, now, 'PX', ttl) else redis.call('SET', k, now, 'KEEPTTL') end
  local seen = P .. 'seen:' .. user
  redis.call('SET', seen, maxn(tonumber(redis.call('GET', seen)), now))
end
local function drop(P, sid, user)
  redis.call('ZREM', P .. 'deadlines', sid)
  redis.call('HDEL', P .. 'sessions', sid)
  if user then redis.call('HDEL', P .. 'conn:' .. user, sid) end
end
-- Marks the user offline at time 'at' once its connection map is empty; returns last-seen or nil.
local function offline(P, user, at)
  if redis.call('EXISTS', P .. 'conn:' .. user) == 1 then return nil end
  local seen = P .. 'seen:' .. user
  local t = maxn(tonumber(redis.call('GET', seen)), at)
  redis.call('SET', seen, t)
  redis.call('DEL', P .. 'presence:' .. user)
  return t
end
`;

/** ARGV: P, sid, user, [device, server] JSON, now, ttl, maxPerUser. Returns {-1, live} | {becameOnline, lapsedLastSeen or -1}. */
const REGISTER = `${LUA_PRELUDE}
local P, sid, user, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, ttl, max = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local deadlines, conn = P .. 'deadlines', P .. 'conn:' .. user
local exp = tonumber(redis.call('ZSCORE', deadlines, sid))
if exp and exp > now then
  redis.call('ZADD', deadlines, now + ttl, sid)
  touch(P, user, now, ttl)
  return {0, -1}
end
local live, lapsed, lapsedAt = 0, {}, nil
for _, id in ipairs(redis.call('HKEYS', conn)) do
  local e = tonumber(redis.call('ZSCORE', deadlines, id))
  if e and e > now then live = live + 1 else lapsed[#lapsed + 1] = id; lapsedAt = maxn(lapsedAt, e) end
end
if live >= max then return {-1, live} end
local reported = -1
if live == 0 and #lapsed > 0 then
  -- Lapsed but unswept: this user went offline unreported; report it here, before the new ONLINE.
  for _, id in ipairs(lapsed) do drop(P, id, user) end
  reported = offline(P, user, lapsedAt or now)
end
redis.call('HSET', conn, sid, value)
redis.call('HSET', P .. 'sessions', sid, user)
redis.call('ZADD', deadlines, now + ttl, sid)
touch(P, user, now, ttl)
if live == 0 then return {1, reported} end
return {0, -1}
`;

/** ARGV: P, now, ttl, sid... Returns the unknown (or lapsed) session ids. */
const REFRESH = `${LUA_PRELUDE}
local P, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local unknown = {}
for i = 4, #ARGV do
  local sid = ARGV[i]
  local exp = tonumber(redis.call('ZSCORE', P .. 'deadlines', sid))
  local user = redis.call('HGET', P .. 'sessions', sid)
  if exp and exp > now and user then
    redis.call('ZADD', P .. 'deadlines', now + ttl, sid)
    touch(P, user, now, ttl)
  else
    unknown[#unknown + 1] = sid
  end
end
return unknown
`;

/** ARGV: P, sid, now. Returns {user, lastSeen} when that was the user's last connection. */
const UNREGISTER = `${LUA_PRELUDE}
local P, sid, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local user = redis.call('HGET', P .. 'sessions', sid)
if not user then return nil end
local exp = tonumber(redis.call('ZSCORE', P .. 'deadlines', sid))
-- An already-lapsed session went offline when it lapsed, not now.
local at = now
if exp and exp <= now then at = exp end
drop(P, sid, user)
local t = offline(P, user, at)
if t then return {user, t} end
return nil
`;

/** ARGV: P, now, limit. Returns {scanned, user1, lastSeen1, ...}. */
const EXPIRE = `${LUA_PRELUDE}
local P, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local out = {#due / 2}
for i = 1, #due, 2 do
  local sid, exp = due[i], tonumber(due[i + 1])
  local user = redis.call('HGET', P .. 'sessions', sid)
  drop(P, sid, user)
  if user then
    local t = offline(P, user, exp)
    if t then out[#out + 1] = user; out[#out + 1] = t end
  end
end
return out
`;

/** ARGV: P, now, user... Returns {user, sid, value, ...} of live connections. */
const LOCATE = `
local P, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local pairs_ = redis.call('HGETALL', P .. 'conn:' .. ARGV[i])
  for j = 1, #pairs_, 2 do
    local e = tonumber(redis.call('ZSCORE', P .. 'deadlines', pairs_[j]))
    if e and e > now then out[#out + 1] = ARGV[i]; out[#out + 1] = pairs_[j]; out[#out + 1] = pairs_[j + 1] end
  end
end
return out
`;

/** ARGV: P, now, user... Returns {online 0|1, lastSeen or -1, ...} per user. */
const PRESENCE = `
local P, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local online = 0
  for _, sid in ipairs(redis.call('HKEYS', P .. 'conn:' .. ARGV[i])) do
    local e = tonumber(redis.call('ZSCORE', P .. 'deadlines', sid))
    if e and e > now then online = 1; break end
  end
  out[#out + 1] = online
  out[#out + 1] = tonumber(redis.call('GET', P .. 'seen:' .. ARGV[i])) or -1
end
return out
`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

/** Session ids per refresh script call: one call per heartbeat batch, bounded script run time. */
const REFRESH_CHUNK = 500;

/**
 * SessionStore on Redis, for the session service of the mesh. Each connection operation is one Lua script,
 * so Redis is the serialization point: two session services sweeping at once still report each
 * transition exactly once, and register/unregister/sweep never interleave half-way. Keeps the
 * guarantees of {@link SessionStore}; see the key layout above. Needs a standalone Redis (or
 * Sentinel), not Cluster: a sweep touches many users' keys in one script (the watcher and locator
 * keys alone would run on Cluster: one key per command). Use the `noeviction` policy: an evicted
 * key loses sessions.
 */
export class RedisSessionStore implements SessionStore {
  private readonly p: string;
  private readonly timeoutMs: number;
  private readonly sweepBatch: number;
  private readonly scripts: Record<'register' | 'refresh' | 'unregister' | 'expire' | 'locate' | 'presence', Script>;
  private readonly watchers: RedisServerInterest;
  private readonly locatedBy: RedisServerInterest;

  constructor(opts: RedisSessionStoreOptions) {
    const { keyPrefix, enableOfflineQueue, autoResendUnfulfilledCommands } = opts.redis.options;
    if (keyPrefix) throw new Error('RedisSessionStore: pass keyPrefix to the store, not to the ioredis client');
    if (enableOfflineQueue !== false || autoResendUnfulfilledCommands !== false) {
      throw new Error('RedisSessionStore: create its ioredis client with sessionRedisOptions() (no offline queue, no resend)');
    }
    this.p = opts.keyPrefix;
    this.timeoutMs = opts.commandTimeoutMs;
    this.sweepBatch = opts.sweepBatch ?? 256;
    const define = (name: string, lua: string): Script => {
      // Prefixed names: several adapters may share one client.
      const command = `chatSession${name}`;
      opts.redis.defineCommand(command, { lua, numberOfKeys: 0 });
      const fn = (opts.redis as unknown as Record<string, Script>)[command];
      return (...args) => fn.apply(opts.redis, args);
    };
    this.scripts = {
      register: define('Register', REGISTER),
      refresh: define('Refresh', REFRESH),
      unregister: define('Unregister', UNREGISTER),
      expire: define('Expire', EXPIRE),
      locate: define('Locate', LOCATE),
      presence: define('Presence', PRESENCE),
    };
    const run = <T>(what: string, call: () => Promise<T>) => this.run(what, call);
    this.watchers = new RedisServerInterest(opts.redis, (u) => `${this.p}watchers:{${u}}`, run);
    this.locatedBy = new RedisServerInterest(opts.redis, (u) => `${this.p}locators:{${u}}`, run);
  }

  async register(connection: Connection, nowMs: number, ttlMs: number, maxPerUser: number): Promise<RegisterResult> {
    const { userId, sessionId, deviceId, serverId, serverAddress } = connection;
    const value = JSON.stringify([deviceId, serverId, serverAddress]);
    const [code, lapsedAt] = (await this.run('register', () =>
      this.scripts.register(this.p, sessionId, userId, value, nowMs, ttlMs, maxPerUser),
    )) as [number, number];
    if (code < 0) throw ChatError.limitExceeded(`user ${userId} already has ${maxPerUser} live connections`);
    if (lapsedAt >= 0) return { becameOnline: true, lapsed: { userId, lastSeenMs: lapsedAt } };
    return { becameOnline: code === 1 };
  }

  async refresh(sessionIds: readonly string[], nowMs: number, ttlMs: number): Promise<{ unknown: string[] }> {
    const unknown: string[] = [];
    for (let i = 0; i < sessionIds.length; i += REFRESH_CHUNK) {
      const chunk = sessionIds.slice(i, i + REFRESH_CHUNK);
      unknown.push(...((await this.run('refresh', () => this.scripts.refresh(this.p, nowMs, ttlMs, ...chunk))) as string[]));
    }
    return { unknown };
  }

  async unregister(sessionId: string, nowMs: number): Promise<{ offline?: OfflineTransition }> {
    const r = (await this.run('unregister', () => this.scripts.unregister(this.p, sessionId, nowMs))) as [string, number] | null;
    return r ? { offline: { userId: r[0], lastSeenMs: Number(r[1]) } } : {};
  }

  /** Sweeps in batches of `sweepBatch` (one script each) until no lapsed session is left. */
  async expire(nowMs: number): Promise<OfflineTransition[]> {
    const out: OfflineTransition[] = [];
    for (;;) {
      const [scanned, ...flat] = (await this.run('expire', () => this.scripts.expire(this.p, nowMs, this.sweepBatch))) as [
        number,
        ...(string | number)[],
      ];
      for (let i = 0; i < flat.length; i += 2) out.push({ userId: String(flat[i]), lastSeenMs: Number(flat[i + 1]) });
      if (scanned < this.sweepBatch) return out;
    }
  }

  async locate(userIds: readonly string[], nowMs: number): Promise<Connection[]> {
    if (userIds.length === 0) return [];
    const flat = (await this.run('locate', () => this.scripts.locate(this.p, nowMs, ...userIds))) as string[];
    const out: Connection[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      // Entries written before server_address existed have two elements.
      const [deviceId, serverId, serverAddress = ''] = JSON.parse(flat[i + 2]) as [string, string, string?];
      out.push({ userId: flat[i], deviceId, sessionId: flat[i + 1], serverId, serverAddress });
    }
    return out;
  }

  async presence(userIds: readonly string[], nowMs: number): Promise<PresenceRecord[]> {
    if (userIds.length === 0) return [];
    const flat = (await this.run('presence', () => this.scripts.presence(this.p, nowMs, ...userIds))) as number[];
    return userIds.map((userId, i) => {
      const seen = Number(flat[2 * i + 1]);
      return { userId, online: flat[2 * i] === 1, lastSeenMs: seen >= 0 ? seen : undefined };
    });
  }

  addPresenceWatches(serverId: string, userIds: readonly string[], nowMs: number, ttlMs: number): Promise<void> {
    return this.watchers.add(serverId, userIds, nowMs, ttlMs);
  }

  noteLocated(serverId: string, userIds: readonly string[], nowMs: number, ttlMs: number): Promise<void> {
    return this.locatedBy.add(serverId, userIds, nowMs, ttlMs);
  }

  presenceWatchers(userIds: readonly string[], nowMs: number): Promise<string[][]> {
    return this.watchers.live(userIds, nowMs);
  }

  locators(userIds: readonly string[], nowMs: number): Promise<string[][]> {
    return this.locatedBy.live(userIds, nowMs);
  }

  /** The client belongs to its creator, who quits it; nothing else to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Runs one Redis call under the deadline (also enforced here, whatever the client's own
   * `commandTimeout`). Any failure (refused, timed out, script error) is UNAVAILABLE to the caller
   * with the cause attached for the log. A call that reached a slow Redis may still apply after
   * its deadline; that ambiguity is inherent, and bounded by the session TTL.
   */
  private run<T>(what: string, call: () => Promise<T>): Promise<T> {
    return withDeadline(call(), this.timeoutMs, what).catch((err: unknown) => {
      throw ChatError.unavailable(`session store unavailable (${what})`, err);
    });
  }
}
