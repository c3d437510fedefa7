import { randomInt } from 'node:crypto';
import type { Redis } from 'ioredis';
import { withDeadline } from '../deadline/with-deadline';
import { ChatError } from '../errors/chat-error';
import { ALL_WORKER_IDS, RenewingWorkerLease, type WorkerIdRange, type WorkerLeaseTiming } from './worker-lease';

/** Options for {@link RedisWorkerLease}. */
export interface RedisWorkerLeaseOptions extends WorkerLeaseTiming {
  /** The client; its creator connects and quits it. No `keyPrefix` of its own (the script builds keys). */
  redis: Redis;
  /** Prefix of the lease keys, e.g. `chat:`; every process of one deployment uses the same one. */
  keyPrefix: string;
  /** Ids this process may take; default all of 0..1023. */
  range?: WorkerIdRange;
  /** Deadline of each Redis call; a renewal past it counts as failed (the lost timer still bounds the lease). */
  commandTimeoutMs: number;
}

/*
 * Key layout: `<prefix>worker:<id>` = the holder's random token, PX = TTL. The three scripts are
 * the compare-and-set primitives; the token is what makes a late renewal or release by a former
 * holder harmless once another process took the id.
 */

/** ARGV: prefix, min, max, start, token, ttl. Returns the id taken, or -1 when all are held. */
const ACQUIRE = `
local P, min, max, start, token, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local size = max - min + 1
for i = 0, size - 1 do
  local id = min + (start - min + i) % size
  if redis.call('SET', P .. 'worker:' .. id, token, 'NX', 'PX', ttl) then return id end
end
return -1
`;

/** KEYS: the lease. ARGV: token, ttl. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/** KEYS: the lease. ARGV: token. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * WorkerLease on Redis (`SET NX PX` with an owner token, renewed by compare-and-`PEXPIRE`,
 * released by compare-and-`DEL`), so the processes of a mesh never share a snowflake worker id.
 * See {@link WorkerLease} for what a holder must do when its lease is lost.
 */
export class RedisWorkerLease extends RenewingWorkerLease {
  private readonly p: string;
  private readonly timeoutMs: number;
  private readonly scripts: Record<'acquire' | 'renew' | 'release', Script>;

  constructor(opts: RedisWorkerLeaseOptions) {
    super(opts.range ?? ALL_WORKER_IDS, opts);
    if (opts.redis.options.keyPrefix) throw new Error('RedisWorkerLease: pass keyPrefix to the lease, not to the ioredis client');
    this.p = opts.keyPrefix;
    this.timeoutMs = opts.commandTimeoutMs;
    const define = (name: string, lua: string, numberOfKeys: number): Script => {
      const command = `chatWorkerLease${name}`;
      opts.redis.defineCommand(command, { lua, numberOfKeys });
      const fn = (opts.redis as unknown as Record<string, Script>)[command];
      return (...args) => fn.apply(opts.redis, args);
    };
    // The acquire script probes keys it computes, so it declares none: standalone Redis, not Cluster.
    this.scripts = { acquire: define('Acquire', ACQUIRE, 0), renew: define('Renew', RENEW, 1), release: define('Release', RELEASE, 1) };
  }

  protected async tryAcquire(token: string): Promise<number | undefined> {
    const { min, max } = this.range;
    // A random starting point: concurrent starters rarely probe the same ids, and an id the store
    // forgot (see the port's limit) is unlikely to be handed out again at once.
    const start = min + randomInt(max - min + 1);
    const id = Number(await this.run('acquire', () => this.scripts.acquire(this.p, min, max, start, token, this.ttlMs)));
    return id >= 0 ? id : undefined;
  }

  protected async renewLease(id: number, token: string): Promise<boolean> {
    return Number(await this.run('renew', () => this.scripts.renew(this.key(id), token, this.ttlMs))) === 1;
  }

  protected async releaseLease(id: number, token: string): Promise<void> {
    await this.run('release', () => this.scripts.release(this.key(id), token));
  }

  private key(id: number): string {
    return `${this.p}worker:${id}`;
  }

  /** One Redis call under the deadline; any failure is UNAVAILABLE with the cause for the log. */
  private run<T>(what: string, call: () => Promise<T>): Promise<T> {
    return withDeadline(call(), this.timeoutMs, what).catch((err: unknown) => {
      throw ChatError.unavailable(`worker lease store unavailable (${what})`, err);
    });
  }
}
