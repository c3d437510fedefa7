import { clientKeyPrefix, defineScript, failsFast, type RedisClient, type RedisScript } from '../engines/redis-client';

export { sessionRedisOptions } from '../engines/redis-client';
import type { Connection } from '../../gen/chat/v1/session';
import { withDeadline } from '../deadline/with-deadline';
import { ChatError } from '../errors/chat-error';
import { RedisServerInterest } from './server-interest-redis';
import { noLease, serverOfSession, type LeaseRenewal, type OfflineTransition, type PresenceRecord, type RegisterResult, type SessionStore } from './session-store';

/** Options for {@link RedisSessionStore}. */
export interface RedisSessionStoreOptions {
  /**
   * The client, created with {@link sessionRedisOptions} (checked): its creator connects and quits
   * it. It has no `keyPrefix` of its own (the scripts build per-user keys from the one below).
   */
  redis: RedisClient;
  /** Prefix of every key, e.g. `chat:sessions:`; unique per deployment sharing the server. */
  keyPrefix: string;
  /** Deadline of every call; past it the call rejects with UNAVAILABLE (if Redis had the command, it may still apply). */
  commandTimeoutMs: number;
  /** Sessions of a dead lease one sweep scan drops, so a backlog never blocks Redis for long. Default 256. */
  sweepBatch?: number;
  /** How long a registration may be in flight (noted under a lease, not yet added to its user). Default twice the deadline. */
  registrationGraceMs?: number;
  /**
   * While this process finds Redis unreachable and this long after the last failure, no lease
   * counts as lapsed (for reads and for the sweep): chat servers could not renew meanwhile, and get
   * this long to do it before their users are taken offline and they register every connection
   * again. Usually the lease TTL. Default 0.
   */
  outageGraceMs?: number;
}


/*
 * Key layout, P = keyPrefix. `{...}` are Redis Cluster hash tags: every script touches one slot
 * (one chat server's keys, one user's keys, or the small server index). Times are the port's
 * `nowMs` clock, never Redis TIME, so every process (and the contract's fake clock) agrees.
 *   P{srv:<X>}lease      hash   token, epoch, exp   chat server X's lease (exp 0: lapsed, claimed by a sweep)
 *   P{srv:<X>}conns:<e>  hash   sessionId -> userId  connections X registered under lease epoch e
 *   P{srv:<X>}dead       zset   epoch -> ended ms    X's epochs whose connections a sweep still drops
 *   P{servers}exp        zset   serverId -> lease expiry ms   the sweep's index and the readers' view
 *   P{servers}epoch      hash   serverId -> current epoch     (one entry per chat server, O(servers))
 *   P{servers}drain      zset   serverId -> since ms   servers with dead epochs under a live lease (restarts)
 *   P{u:<user>}conn      hash   sessionId -> JSON [deviceId, serverId, serverAddress, epoch]
 *   P{u:<user>}seen      string last seen ms (no TTL: last seen outlives the connection)
 * A connection is live iff its server's lease is live and its epoch is the lease's: no command
 * per heartbeat, one renewal per chat server every third of its lease TTL. Which chat servers are
 * interested in a user (see RedisServerInterest), one key per user and kind:
 *   P watchers:{<user>} zset  serverId -> expiry ms   (presence watchers; PEXPIRE'd, trimmed on add)
 *   P locators:{<user>} zset  serverId -> expiry ms   (servers caching the user's location; same)
 */

/**
 * KEYS: lease, dead. ARGV: token, now, ttl, conns prefix. Extends the lease of the same instance
 * unless a sweep claimed it (a renewal late past its expiry, the store having been unreachable,
 * keeps it); otherwise (first renewal, restart, claimed) its epoch ends (dead, when it has
 * connections) and a new one starts. Returns {epoch, lapsed 0|1, dead epochs}.
 */
const RENEW = `
local token, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'token', 'epoch', 'exp')
local epoch, exp = tonumber(f[2]) or 0, tonumber(f[3]) or 0
if f[1] == token and exp > 0 then
  -- Never shortened: a renewal that timed out may still be applied late, after a newer one.
  redis.call('HSET', KEYS[1], 'exp', math.max(exp, now + ttl))
  return {epoch, 0, redis.call('ZCARD', KEYS[2])}
end
if exp > 0 and redis.call('EXISTS', ARGV[4] .. epoch) == 1 then redis.call('ZADD', KEYS[2], math.min(exp, now), epoch) end
epoch = epoch + 1
redis.call('HSET', KEYS[1], 'token', token, 'epoch', epoch, 'exp', now + ttl)
return {epoch, 1, redis.call('ZCARD', KEYS[2])}
`;

/** KEYS: exp index, epoch index, drain index. ARGV: server, lease expiry, epoch, has dead 0|1, now. */
const INDEX = `
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
if (tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0) < tonumber(ARGV[3]) then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
if ARGV[4] == '1' then redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[1]) else redis.call('ZREM', KEYS[3], ARGV[1]) end
`;

/** KEYS: exp index, epoch index, drain index. ARGV: server, now. Forgets a server whose lease lapsed and was drained. */
const UNINDEX = `
local exp = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if exp and exp <= tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('HDEL', KEYS[2], ARGV[1]) end
redis.call('ZREM', KEYS[3], ARGV[1])
`;

/** KEYS: lease. ARGV: now, conns prefix, sid, user. Notes the session under the live lease; returns its epoch, or -1. */
const ADMIT = `
local f = redis.call('HMGET', KEYS[1], 'epoch', 'exp')
if (tonumber(f[2]) or 0) <= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', ARGV[2] .. f[1], ARGV[3], ARGV[4])
return tonumber(f[1])
`;

/**
 * KEYS: conn, seen. ARGV: sid, value, epoch, max, now. Returns {0} when the session is already
 * there under this epoch or a later one (a registration that lands late never downgrades it); else {code, sid1, value1, ...} with the user's other entries (and this
 * session's own, from an older epoch): code -1 refused (at max entries, the caller prunes dead
 * ones and retries), 1 the user had no entry, 0 it had some.
 */
const USER_REGISTER = `
local sid, value, epoch, max, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local all = redis.call('HGETALL', KEYS[1])
local out, others = {0}, 0
for i = 1, #all, 2 do
  if all[i] == sid and cjson.decode(all[i + 1])[4] >= epoch then return {0} end
  if all[i] ~= sid then others = others + 1 end
  out[#out + 1] = all[i]; out[#out + 1] = all[i + 1]
end
if others >= max then out[1] = -1; return out end
redis.call('HSET', KEYS[1], sid, value)
redis.call('SET', KEYS[2], math.max(tonumber(redis.call('GET', KEYS[2])) or 0, now))
if #out == 1 then out[1] = 1 end
return out
`;

/**
 * KEYS: conn, seen. ARGV: at, server, epoch ('*': any), sid... Removes the sessions still
 * registered under that server and epoch, last seen at 'at' (or later); when that empties the
 * user, it went offline then. Returns {last seen or -1, removed sid...}.
 */
const DROP = `
local out = {-1}
for i = 4, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local d = cjson.decode(v)
    if d[2] == ARGV[2] and (ARGV[3] == '*' or d[4] == tonumber(ARGV[3])) then redis.call('HDEL', KEYS[1], ARGV[i]); out[#out + 1] = ARGV[i] end
  end
end
if #out == 1 then return out end
local seen = math.max(tonumber(redis.call('GET', KEYS[2])) or 0, tonumber(ARGV[1]))
redis.call('SET', KEYS[2], seen)
if redis.call('EXISTS', KEYS[1]) == 0 then out[1] = seen end
return out
`;

/** KEYS: lease, dead. ARGV: conns prefix, sid. Returns {user, epoch} of the session, or nil. */
const LOOKUP = `
local e = redis.call('HGET', KEYS[1], 'epoch')
local epochs = redis.call('ZRANGE', KEYS[2], 0, -1)
if e then table.insert(epochs, 1, e) end
for _, ep in ipairs(epochs) do
  local u = redis.call('HGET', ARGV[1] .. ep, ARGV[2])
  if u then return {u, ep} end
end
return nil
`;

/**
 * KEYS: lease, dead. ARGV: now, conns prefix. Claims a lapsed lease for the sweep (its epoch
 * becomes dead). Returns {lease expiry (0: none), epoch1, ended1, ...} of the dead epochs.
 */
const CLAIM = `
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'epoch', 'exp')
local exp = tonumber(f[2]) or 0
if exp > 0 and exp <= now then
  if redis.call('EXISTS', ARGV[2] .. f[1]) == 1 then redis.call('ZADD', KEYS[2], exp, f[1]) end
  redis.call('HSET', KEYS[1], 'exp', 0)
  exp = 0
end
local out = {exp}
for _, v in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')) do out[#out + 1] = v end
return out
`;

/** KEYS: conns of the epoch, dead. ARGV: epoch, final 0|1. Done with a dead epoch once it is empty, or finally. */
const FINISH = `
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
`;

type Script = RedisScript;

/** A chat server's lease as the readers' view last read it. */
interface LeaseSeen {
  expiresAtMs: number;
  epoch: number;
}

/** A user's connection entry: [deviceId, serverId, serverAddress, epoch]. */
type EntryValue = [string, string, string, number];

/** Sessions one sweep drops per scan of a dead epoch, so a backlog never blocks Redis for long. */
const DEFAULT_SWEEP_BATCH = 256;
/** Servers one sweep examines at most. */
const SWEEP_SERVERS = 64;
/** How often readers may reload the server index when an entry looks dead: bounds reloads under a dead server's load. */
const VIEW_RELOAD_MIN_MS = 100;

/**
 * SessionStore on Redis, for the session service of the mesh (and `chatd` with CHAT_SESSIONS=redis).
 * Keeps the guarantees of {@link SessionStore}; see the key layout above. Each step is one Lua
 * script on one slot, so it runs on Redis Cluster as on a single Redis or Sentinel:
 * - a chat server's renewal is one script on its keys, plus one on the server index;
 * - a registration notes the session under its server's live lease, then adds it to the user's
 *   connections (two slots, in that order: a session a sweep must drop is always findable from
 *   its server's keys);
 * - readers judge an entry by a view of the server index, read once per sweep interval (O(chat
 *   servers)) and again when an entry looks dead, so a dead connection is never returned;
 * - the sweep claims each lapsed lease (one slot) and drops its connections user by user, each
 *   drop conditional on the server and epoch, so two session services sweeping at once still
 *   report each transition exactly once.
 * A registration that raced its server's lapse (noted under the lease before the claim, added to
 * the user after the drop) is left as an entry of a dead epoch: readers never count it, and the
 * user's next registration removes it. Use the `noeviction` policy: an evicted key loses sessions.
 */
export class RedisSessionStore implements SessionStore {
  private readonly p: string;
  private readonly timeoutMs: number;
  private readonly sweepBatch: number;
  private readonly graceMs: number;
  private readonly outageGraceMs: number;
  /** When a call of this process last failed (Redis unreachable, or slower than the deadline). */
  private lastFailureAtMs = -Infinity;
  private readonly scripts: Record<'renew' | 'index' | 'unindex' | 'admit' | 'userRegister' | 'drop' | 'lookup' | 'claim' | 'finish', Script>;
  private readonly watchers: RedisServerInterest;
  private readonly locatedBy: RedisServerInterest;
  private view = new Map<string, LeaseSeen>();
  private viewLoadedAtMs = -Infinity;
  private viewLoading?: Promise<void>;

  constructor(private readonly opts: RedisSessionStoreOptions) {
    if (clientKeyPrefix(opts.redis)) throw new Error('RedisSessionStore: pass keyPrefix to the store, not to the ioredis client');
    if (!failsFast(opts.redis)) {
      throw new Error('RedisSessionStore: create its ioredis client with sessionRedisOptions() (no offline queue, no resend)');
    }
    this.p = opts.keyPrefix;
    this.timeoutMs = opts.commandTimeoutMs;
    this.sweepBatch = opts.sweepBatch ?? DEFAULT_SWEEP_BATCH;
    this.graceMs = opts.registrationGraceMs ?? 2 * opts.commandTimeoutMs;
    this.outageGraceMs = opts.outageGraceMs ?? 0;
    const define = (name: string, lua: string, numberOfKeys: number): Script => defineScript(opts.redis, `chatSession${name}`, lua, numberOfKeys);
    this.scripts = {
      renew: define('Renew', RENEW, 2),
      index: define('Index', INDEX, 3),
      unindex: define('Unindex', UNINDEX, 3),
      admit: define('Admit', ADMIT, 1),
      userRegister: define('UserRegister', USER_REGISTER, 2),
      drop: define('Drop', DROP, 2),
      lookup: define('Lookup', LOOKUP, 2),
      claim: define('Claim', CLAIM, 2),
      finish: define('Finish', FINISH, 2),
    };
    const run = <T>(what: string, call: () => Promise<T>) => this.run(what, call);
    this.watchers = new RedisServerInterest(opts.redis, (u) => `${this.p}watchers:{${u}}`, run);
    this.locatedBy = new RedisServerInterest(opts.redis, (u) => `${this.p}locators:{${u}}`, run);
  }

  async renewServer(serverId: string, token: string, nowMs: number, ttlMs: number): Promise<LeaseRenewal> {
    const k = this.serverKeys(serverId);
    const [epoch, lapsed, dead] = (await this.run('renew', () => this.scripts.renew(k.lease, k.dead, token, nowMs, ttlMs, k.conns))) as [number, number, number];
    // Indexed after the lease: a registration (which needs the lease) is answered after this, so
    // readers that see its entry can find its epoch in the index.
    await this.run('index', () => this.scripts.index(...this.indexKeys(), serverId, nowMs + ttlMs, epoch, dead > 0 ? 1 : 0, nowMs));
    this.view.set(serverId, { expiresAtMs: nowMs + ttlMs, epoch });
    return { lapsed: lapsed === 1, epoch };
  }

  async register(connection: Connection, nowMs: number, maxPerUser: number): Promise<RegisterResult> {
    const { userId, sessionId, deviceId, serverId, serverAddress } = connection;
    const k = this.serverKeys(serverId);
    const epoch = Number(await this.run('admit', () => this.scripts.admit(k.lease, nowMs, k.conns, sessionId, userId)));
    if (epoch < 0) throw noLease(serverId);
    const value = JSON.stringify([deviceId, serverId, serverAddress, epoch] satisfies EntryValue);
    const u = this.userKeys(userId);
    // Dead entries removed on a refused attempt: when none of the user's entries was live, the
    // retry's ONLINE follows their unreported OFFLINE.
    let removedAtMs: number | undefined;
    for (let attempt = 0; ; attempt++) {
      const [code, ...flat] = (await this.run('register', () => this.scripts.userRegister(u.conn, u.seen, sessionId, value, epoch, maxPerUser, nowMs))) as [number, ...string[]];
      if (flat.length === 0) {
        if (code === 1 && removedAtMs !== undefined) return { becameOnline: true, lapsed: { userId, lastSeenMs: removedAtMs } };
        return { becameOnline: code === 1 };
      }
      // The user's other entries: the ones whose lease is gone do not count, and are removed here.
      const dead: Array<{ sid: string; entry: EntryValue; endedAtMs: number }> = [];
      let live = 0;
      for (let i = 0; i < flat.length; i += 2) {
        const entry = JSON.parse(flat[i + 1]) as EntryValue;
        const endedAtMs = await this.endOf(entry, nowMs);
        if (endedAtMs === undefined) live += flat[i] === sessionId ? 0 : 1;
        else dead.push({ sid: flat[i], entry, endedAtMs });
      }
      const others = dead.filter((d) => d.sid !== sessionId);
      if (others.length > 0) await this.dropEntries(userId, others);
      const lastSeenMs = dead.length > 0 && live === 0 ? Math.max(...dead.map((d) => d.endedAtMs)) : undefined;
      if (code >= 0) return lastSeenMs !== undefined ? { becameOnline: true, lapsed: { userId, lastSeenMs } } : { becameOnline: false };
      if (others.length === 0 || attempt > 0) {
        // Refused: not the server's connection after all (else it would wait for its lease to end).
        await this.run('register', () => this.opts.redis.hdel(`${k.conns}${epoch}`, sessionId));
        throw ChatError.limitExceeded(`user ${userId} already has ${maxPerUser} live connections`);
      }
      removedAtMs = lastSeenMs;
    }
  }

  async unregister(sessionId: string, nowMs: number): Promise<{ offline?: OfflineTransition }> {
    const serverId = serverOfSession(sessionId);
    if (!serverId) return {};
    const k = this.serverKeys(serverId);
    const found = (await this.run('lookup', () => this.scripts.lookup(k.lease, k.dead, k.conns, sessionId))) as [string, string] | null;
    if (!found) return {};
    const [userId, epoch] = found;
    const u = this.userKeys(userId);
    // An entry of an ended lease went offline when the lease ended, not now.
    const at = (await this.endOf(['', serverId, '', Number(epoch)], nowMs)) ?? nowMs;
    const [seen] = (await this.run('unregister', () => this.scripts.drop(u.conn, u.seen, at, serverId, epoch, sessionId))) as [number];
    await this.run('unregister', () => this.opts.redis.hdel(`${k.conns}${epoch}`, sessionId));
    return seen >= 0 ? { offline: { userId, lastSeenMs: seen } } : {};
  }

  /**
   * Claims the lapsed leases and drops the connections of every dead epoch, `sweepBatch` sessions
   * per scan, until none is left; then forgets servers that are gone.
   */
  async expire(nowMs: number): Promise<OfflineTransition[]> {
    await this.loadView(nowMs, true);
    const [exp, , drain] = this.indexKeys();
    // No lease counts as lapsed within the outage grace: only restarts' dead epochs are drained.
    const lapsedBy = this.inOutageGrace() ? 0 : nowMs;
    const [lapsed, draining] = await this.run('expire', () =>
      Promise.all([lapsedBy > 0 ? this.opts.redis.zrangebyscore(exp, '-inf', lapsedBy, 'LIMIT', 0, SWEEP_SERVERS) : Promise.resolve([]), this.opts.redis.zrange(drain, '0', String(SWEEP_SERVERS - 1))]),
    );
    const out: OfflineTransition[] = [];
    for (const serverId of new Set([...lapsed, ...draining])) out.push(...(await this.sweepServer(serverId, nowMs, lapsedBy)));
    return out;
  }

  async locate(userIds: readonly string[], nowMs: number): Promise<Connection[]> {
    if (userIds.length === 0) return [];
    const maps = await this.run('locate', () => Promise.all(userIds.map((u) => this.opts.redis.hgetall(this.userKeys(u).conn))));
    const out: Connection[] = [];
    for (let i = 0; i < userIds.length; i++) {
      for (const [sessionId, raw] of Object.entries(maps[i])) {
        const entry = JSON.parse(raw) as EntryValue;
        if ((await this.endOf(entry, nowMs)) !== undefined) continue;
        const [deviceId, serverId, serverAddress] = entry;
        out.push({ userId: userIds[i], deviceId, sessionId, serverId, serverAddress });
      }
    }
    return out;
  }

  async presence(userIds: readonly string[], nowMs: number): Promise<PresenceRecord[]> {
    if (userIds.length === 0) return [];
    const read = await this.run('presence', () =>
      Promise.all(userIds.map((u) => Promise.all([this.opts.redis.hvals(this.userKeys(u).conn), this.opts.redis.get(this.userKeys(u).seen)]))),
    );
    return Promise.all(
      userIds.map(async (userId, i) => {
        const [values, seen] = read[i];
        let online = false;
        for (const v of values) if (!online && (await this.endOf(JSON.parse(v) as EntryValue, nowMs)) === undefined) online = true;
        return { userId, online, lastSeenMs: seen !== null ? Number(seen) : undefined };
      }),
    );
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

  /** One server: claim a lapsed lease, drop every dead epoch, then keep or forget it in the index. */
  private async sweepServer(serverId: string, nowMs: number, lapsedBy: number): Promise<OfflineTransition[]> {
    const k = this.serverKeys(serverId);
    const [leaseExp, ...dead] = (await this.run('expire', () => this.scripts.claim(k.lease, k.dead, lapsedBy, k.conns))) as [number, ...string[]];
    const out: OfflineTransition[] = [];
    let left = 0;
    for (let i = 0; i < dead.length; i += 2) {
      const [epoch, endedAtMs] = [dead[i], Number(dead[i + 1])];
      out.push(...(await this.dropEpoch(serverId, epoch, endedAtMs)));
      // Sessions noted under the lease whose user entry was not (yet) found wait out the grace
      // period of a registration in flight, then go.
      const final = endedAtMs < nowMs - this.graceMs ? 1 : 0;
      await this.run('expire', () => this.scripts.finish(`${k.conns}${epoch}`, k.dead, epoch, final));
      if (!final) left++;
    }
    if (left === 0 && Number(leaseExp) === 0) await this.run('expire', () => this.scripts.unindex(...this.indexKeys(), serverId, lapsedBy));
    else if (left === 0) await this.run('expire', () => this.opts.redis.zrem(this.indexKeys()[2], serverId));
    return out;
  }

  /** Drops the user entries of one dead epoch, scanning its sessions `sweepBatch` at a time. */
  private async dropEpoch(serverId: string, epoch: string, endedAtMs: number): Promise<OfflineTransition[]> {
    const key = `${this.serverKeys(serverId).conns}${epoch}`;
    const out: OfflineTransition[] = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.run('expire', () => this.opts.redis.hscan(key, cursor, 'COUNT', this.sweepBatch));
      cursor = next;
      const byUser = new Map<string, string[]>();
      for (let i = 0; i < flat.length; i += 2) {
        const sids = byUser.get(flat[i + 1]);
        if (sids) sids.push(flat[i]);
        else byUser.set(flat[i + 1], [flat[i]]);
      }
      const results = await this.run('expire', () =>
        Promise.all([...byUser].map(([userId, sids]) => this.scripts.drop(...Object.values(this.userKeys(userId)), endedAtMs, serverId, epoch, ...sids))),
      );
      const removed: string[] = [];
      [...byUser.keys()].forEach((userId, i) => {
        const [seen, ...sids] = results[i] as [number, ...string[]];
        removed.push(...sids);
        if (seen >= 0) out.push({ userId, lastSeenMs: seen });
      });
      if (removed.length > 0) await this.run('expire', () => this.opts.redis.hdel(key, ...removed));
    } while (cursor !== '0');
    return out;
  }

  /** Removes a user's dead entries (one conditional drop each, concurrently) without reporting: the caller does. */
  private async dropEntries(userId: string, dead: ReadonlyArray<{ sid: string; entry: EntryValue; endedAtMs: number }>): Promise<void> {
    const u = this.userKeys(userId);
    await this.run('register', () => Promise.all(dead.map((d) => this.scripts.drop(u.conn, u.seen, d.endedAtMs, d.entry[1], d.entry[3], d.sid))));
  }

  /**
   * When the lease an entry was registered under ended (undefined while it is live), by the view
   * of the server index; an entry that looks dead is judged again on a fresh view, so a lease
   * renewed since the last read is never taken for lapsed.
   */
  private async endOf(entry: EntryValue, nowMs: number): Promise<number | undefined> {
    const judge = () => {
      const seen = this.view.get(entry[1]);
      if (!seen) return nowMs;
      if (entry[3] < seen.epoch) return 'replaced';
      return seen.expiresAtMs > nowMs || this.inOutageGrace() ? undefined : seen.expiresAtMs;
    };
    if (judge() === undefined) return undefined;
    await this.loadView(nowMs, false);
    const end = judge();
    if (end !== 'replaced') return end;
    // An epoch a restart replaced ended at the restart; its server's keys remember when.
    const at = await this.run('lease end', () => this.opts.redis.zscore(this.serverKeys(entry[1]).dead, String(entry[3])));
    return at !== null ? Math.min(Number(at), nowMs) : nowMs;
  }

  /** Reads the server index into the view: always on `force` (each sweep), else at most every VIEW_RELOAD_MIN_MS. */
  private loadView(nowMs: number, force: boolean): Promise<void> {
    if (this.viewLoading) return this.viewLoading;
    if (!force && nowMs - this.viewLoadedAtMs < VIEW_RELOAD_MIN_MS && nowMs >= this.viewLoadedAtMs) return Promise.resolve();
    const [exp, epochKey] = this.indexKeys();
    this.viewLoading = this.run('server index', () => Promise.all([this.opts.redis.zrange(exp, '0', '-1', 'WITHSCORES'), this.opts.redis.hgetall(epochKey)]))
      .then(([flat, epochs]) => {
        const view = new Map<string, LeaseSeen>();
        for (let i = 0; i < flat.length; i += 2) view.set(flat[i], { expiresAtMs: Number(flat[i + 1]), epoch: Number(epochs[flat[i]] ?? 0) });
        this.view = view;
        this.viewLoadedAtMs = nowMs;
      })
      .finally(() => (this.viewLoading = undefined));
    return this.viewLoading;
  }

  private serverKeys(serverId: string): { lease: string; dead: string; conns: string } {
    const tag = `${this.p}{srv:${serverId}}`;
    return { lease: `${tag}lease`, dead: `${tag}dead`, conns: `${tag}conns:` };
  }

  /** The server index: [expiries, epochs, servers to drain]. */
  private indexKeys(): [string, string, string] {
    const tag = `${this.p}{servers}`;
    return [`${tag}exp`, `${tag}epoch`, `${tag}drain`];
  }

  private userKeys(userId: string): { conn: string; seen: string } {
    const tag = `${this.p}{u:${userId}}`;
    return { conn: `${tag}conn`, seen: `${tag}seen` };
  }

  /**
   * Runs one Redis call under the deadline (also enforced here, whatever the client's own
   * `commandTimeout`). Any failure (refused, timed out, script error) is UNAVAILABLE to the caller
   * with the cause attached for the log. A call that reached a slow Redis may still apply after
   * its deadline; that ambiguity is inherent, and bounded by the lease TTL.
   */
  private run<T>(what: string, call: () => Promise<T>): Promise<T> {
    return withDeadline(call(), this.timeoutMs, what).catch((err: unknown) => {
      this.lastFailureAtMs = Date.now();
      throw ChatError.unavailable(`session store unavailable (${what})`, err);
    });
  }

  /** Whether Redis failed this process within the outage grace (real time): then no lease counts as lapsed. */
  private inOutageGrace(): boolean {
    return this.outageGraceMs > 0 && Date.now() - this.lastFailureAtMs < this.outageGraceMs;
  }
}
