import { randomInt } from 'node:crypto';
import { RenewingWorkerLease, type WorkerIdRange, type WorkerLeaseTiming } from './worker-lease';

/**
 * The worker-id leases of one process: what Redis is for the mesh, for leases that share a
 * process. Each id has at most one unexpired holder; an expired lease is free for the taking.
 */
export class MemoryWorkerIdTable {
  private readonly leases = new Map<number, { token: string; expiresAtMs: number }>();

  /** Leases the first free id from a random point of `range`; undefined when all are held. */
  tryAcquire(range: WorkerIdRange, token: string, ttlMs: number): number | undefined {
    const now = Date.now();
    const size = range.max - range.min + 1;
    const start = randomInt(size);
    for (let i = 0; i < size; i++) {
      const id = range.min + ((start + i) % size);
      const held = this.leases.get(id);
      if (held && held.expiresAtMs > now) continue;
      this.leases.set(id, { token, expiresAtMs: now + ttlMs });
      return id;
    }
    return undefined;
  }

  /** Extends `id`'s lease if `token` holds it and it has not expired. */
  renew(id: number, token: string, ttlMs: number): boolean {
    const now = Date.now();
    const held = this.leases.get(id);
    if (!held || held.token !== token || held.expiresAtMs <= now) return false;
    held.expiresAtMs = now + ttlMs;
    return true;
  }

  /** Frees `id` if `token` holds it. */
  release(id: number, token: string): void {
    if (this.leases.get(id)?.token === token) this.leases.delete(id);
  }

  /** Forgets `id`'s lease as if its TTL had lapsed unseen (a process paused past its TTL). */
  forget(id: number): void {
    this.leases.delete(id);
  }
}

/** Options for {@link MemoryWorkerLease}. */
export interface MemoryWorkerLeaseOptions extends Partial<WorkerLeaseTiming> {
  /** `chatd`: `{ min: id, max: id }` with the configured worker id. */
  range: WorkerIdRange;
  /** Leases that must not collide share one table; default a private one (`chatd`'s single lease). */
  table?: MemoryWorkerIdTable;
}

/**
 * WorkerLease of `chatd`: one process, so the configured id is always free and the lease only
 * guards against this process leasing it twice. Keeps every guarantee of the port for leases
 * sharing a table, which is how the contract suite runs it.
 */
export class MemoryWorkerLease extends RenewingWorkerLease {
  private readonly table: MemoryWorkerIdTable;

  constructor(opts: MemoryWorkerLeaseOptions) {
    const ttlMs = opts.ttlMs ?? 30_000;
    super(opts.range, { ttlMs, renewIntervalMs: opts.renewIntervalMs, safetyMarginMs: opts.safetyMarginMs });
    this.table = opts.table ?? new MemoryWorkerIdTable();
  }

  protected tryAcquire(token: string): Promise<number | undefined> {
    return Promise.resolve(this.table.tryAcquire(this.range, token, this.ttlMs));
  }

  protected renewLease(id: number, token: string): Promise<boolean> {
    return Promise.resolve(this.table.renew(id, token, this.ttlMs));
  }

  protected releaseLease(id: number, token: string): Promise<void> {
    this.table.release(id, token);
    return Promise.resolve();
  }
}
