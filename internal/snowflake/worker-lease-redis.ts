import { randomInt } from 'node:crypto';
import { withDeadline } from '../deadline/with-deadline';
import { clientKeyPrefix, defineScript, type RedisClient, type RedisScript } from '../engines/redis-client';
import { ChatError } from '../errors/chat-error';
import { ALL_WORKER_IDS, RenewingWorkerLease, type WorkerIdRange, type WorkerLeaseTiming } from './worker-lease';

/** Options for {@link RedisWorkerLease}. */
export interface RedisWorkerLeaseOptions extends WorkerLeaseTiming {
  /** The client (one Redis or a Cluster); its creator connects and quits it. No `keyPrefix` of its own (the scripts get whole keys). */
  redis: RedisClient;
  /** Prefix of the lease keys, e.g. `chat:`; every process of one deployment uses the same one. */
  keyPrefix: string;
  /** Ids this process may take; default all of 0..1023. */
  range?: WorkerIdRange;
  /** Deadline of each Redis call; a renewal past it counts as failed (the lost timer still bounds the lease). */
  commandTimeoutMs: number;
}

/*
 * Key layout: `<prefix>worker:<id>` = the holder's random token, PX = TTL; one key per id, so the
 * ids spread over a Cluster's slots and every command or script touches one key. Acquisition is
 * `SET NX PX` on one id at a time; the two scripts are the compare-and-set primitives. The token
 * is what makes a late renewal or release by a former holder harmless once another process took
 * the id.
 */

/** Ids whose leases one round trip reads while acquiring. */
const PROBE_WINDOW = 16;

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

type Script = RedisScript;

/**
 * WorkerLease on Redis (`SET NX PX` with an owner token, renewed by compare-and-`PEXPIRE`,
 * released by compare-and-`DEL`), so the processes of a mesh never share a snowflake worker id.
 * Works on one Redis and on a Redis Cluster alike. See {@link WorkerLease} for what a holder must
 * do when its lease is lost.
 */
export class RedisWorkerLease extends RenewingWorkerLease {
  private readonly redis: RedisClient;
  private readonly p: string;
  private readonly timeoutMs: number;
  private readonly scripts: Record<'renew' | 'release', Script>;

  constructor(opts: RedisWorkerLeaseOptions) {
    super(opts.range ?? ALL_WORKER_IDS, opts);
    if (clientKeyPrefix(opts.redis)) throw new Error('RedisWorkerLease: pass keyPrefix to the lease, not to the ioredis client');
    this.redis = opts.redis;
    this.p = opts.keyPrefix;
    this.timeoutMs = opts.commandTimeoutMs;
    const define = (name: string, lua: string): Script => defineScript(opts.redis, `chatWorkerLease${name}`, lua, 1);
    this.scripts = { renew: define('Renew', RENEW), release: define('Release', RELEASE) };
  }

  /**
   * Walks the range from a random id: one round trip reads which of the next ids are leased (their
   * keys lie in different slots, so no one script may probe them on a Cluster), then `SET NX` takes
   * the first that looked free; one taken meanwhile fails the SET and the walk goes on. A lease
   * thus never holds more than the one id it returns, even for a moment.
   */
  protected async tryAcquire(token: string): Promise<number | undefined> {
    const { min, max } = this.range;
    const size = max - min + 1;
    // A random starting point: concurrent starters rarely probe the same ids, and an id the store
    // forgot (see the port's limit) is unlikely to be handed out again at once.
    const start = randomInt(size);
    for (let from = 0; from < size; from += PROBE_WINDOW) {
      const ids = Array.from({ length: Math.min(PROBE_WINDOW, size - from) }, (_, i) => min + ((start + from + i) % size));
      // Sent together: auto-pipelining makes them one write per node.
      const leased = await this.run('acquire', () => Promise.all(ids.map((id) => this.redis.exists(this.key(id)))));
      for (const [i, id] of ids.entries()) {
        if (leased[i] !== 0) continue;
        if ((await this.run('acquire', () => this.redis.set(this.key(id), token, 'PX', this.ttlMs, 'NX'))) === 'OK') return id;
      }
    }
    return undefined;
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
