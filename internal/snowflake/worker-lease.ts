import { randomUUID } from 'node:crypto';
import { ChatError } from '../errors/chat-error';

/** Inclusive range of worker ids a lease may take; within 0..1023. */
export interface WorkerIdRange {
  min: number;
  max: number;
}

/** The full snowflake worker id space. */
export const ALL_WORKER_IDS: WorkerIdRange = { min: 0, max: 1023 };

/** Timing of a lease. */
export interface WorkerLeaseTiming {
  /** How long the store keeps a lease that is not renewed. */
  ttlMs: number;
  /** Time between renewals; default a third of the TTL, so two may fail before the lease is in danger. */
  renewIntervalMs?: number;
  /** The holder gives up this long before its last confirmed expiry (timer lateness, clock rate). Default a tenth of the TTL. */
  safetyMarginMs?: number;
}

/**
 * WorkerLease gives one process a snowflake worker id that no other live process holds (memory
 * in `chatd`, Redis in the mesh). Without it two processes with the same id issue colliding ids.
 *
 * Guarantees implementers keep:
 * - `acquire` leases a free id of its range, or rejects with UNAVAILABLE (none free, store
 *   unreachable) naming the range. Two leases never hold the same id at once.
 * - The lease renews itself every `renewIntervalMs`. It is *lost* when a renewal finds the id no
 *   longer its own (it lapsed, or another process took it), or when no renewal succeeded in time
 *   to keep it alive: the holder gives up `safetyMarginMs` before the store could let the id go
 *   (each TTL counts from when its renewal was *sent*, so the store's copy outlives the holder's).
 * - Fail closed: once lost, `isHeld()` is false and the `onLost` listeners run, once. The process
 *   must stop issuing ids with that worker id at once: check `isHeld()` (synchronous, by the local
 *   clock, so it is right even when the event loop was blocked past the timers) before issuing,
 *   and drain or restart on `onLost`. A lost lease is never resumed; acquire a new one.
 * - `release` frees the id only if this lease still owns it (compare-and-delete); idempotent.
 *
 * Limit: if the store forgets a lease early (a Redis restart without persistence, a failover to a
 * replica that missed the write), another process can take the id before the holder's next
 * renewal reports the loss; ids are handed out from a random point of the range to make that rare.
 */
export interface WorkerLease {
  /** Leases a free id and starts renewing it. Call once per lease object. */
  acquire(): Promise<number>;
  /** The held id; undefined before `acquire`, after loss and after release. */
  readonly workerId: number | undefined;
  /** Whether ids may still be issued under this lease. Cheap and synchronous. */
  isHeld(): boolean;
  /** Calls `listener` once if the lease is lost (not on `release`). */
  onLost(listener: (reason: ChatError) => void): void;
  /** Stops renewing and frees the id if still owned. */
  release(): Promise<void>;
}

type State = 'idle' | 'acquiring' | 'held' | 'lost' | 'released';

/**
 * The renewal and fail-closed logic every adapter shares; an adapter supplies the three atomic
 * store operations. Timers are unref'd: a lease never keeps a process alive by itself.
 */
export abstract class RenewingWorkerLease implements WorkerLease {
  private state: State = 'idle';
  private id: number | undefined;
  private readonly token = randomUUID();
  /** Local time until which the lease is certainly ours, margin already taken off. */
  private heldUntil = 0;
  private renewTimer?: NodeJS.Timeout;
  private lostTimer?: NodeJS.Timeout;
  private readonly listeners: ((reason: ChatError) => void)[] = [];
  protected readonly ttlMs: number;
  private readonly renewIntervalMs: number;
  private readonly marginMs: number;

  protected constructor(
    protected readonly range: WorkerIdRange,
    timing: WorkerLeaseTiming,
  ) {
    const { min, max } = range;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max > 1023 || min > max) {
      throw new RangeError(`worker id range must be integers within 0..1023, got ${min}..${max}`);
    }
    this.ttlMs = timing.ttlMs;
    this.renewIntervalMs = timing.renewIntervalMs ?? Math.floor(timing.ttlMs / 3);
    this.marginMs = timing.safetyMarginMs ?? Math.floor(timing.ttlMs / 10);
    if (!(this.renewIntervalMs > 0 && this.marginMs >= 0 && this.renewIntervalMs + this.marginMs < this.ttlMs)) {
      throw new RangeError(`lease timing needs 0 < renewIntervalMs + safetyMarginMs < ttlMs, got ${JSON.stringify(timing)}`);
    }
  }

  /** Takes one free id of `range` for `token` with a TTL; undefined when all are taken. */
  protected abstract tryAcquire(token: string): Promise<number | undefined>;
  /** Extends the TTL of `id` if `token` still holds it; false if it does not. */
  protected abstract renewLease(id: number, token: string): Promise<boolean>;
  /** Deletes the lease of `id` if `token` still holds it. */
  protected abstract releaseLease(id: number, token: string): Promise<void>;

  get workerId(): number | undefined {
    return this.state === 'held' ? this.id : undefined;
  }

  isHeld(): boolean {
    return this.state === 'held' && Date.now() < this.heldUntil;
  }

  onLost(listener: (reason: ChatError) => void): void {
    this.listeners.push(listener);
  }

  async acquire(): Promise<number> {
    if (this.state !== 'idle') throw new Error(`acquire() called on a lease that is ${this.state}; create a new lease`);
    this.state = 'acquiring';
    const sentAt = Date.now();
    let id: number | undefined;
    try {
      id = await this.tryAcquire(this.token);
    } finally {
      if (id === undefined) this.state = 'idle';
    }
    if (id === undefined) {
      const { min, max } = this.range;
      throw ChatError.unavailable(`no free snowflake worker id in ${min}..${max}: all ${max - min + 1} are leased by live processes`);
    }
    this.id = id;
    this.state = 'held';
    this.confirmedAt(sentAt);
    this.scheduleRenewal(this.renewIntervalMs);
    return id;
  }

  async release(): Promise<void> {
    if (this.state !== 'held') return;
    this.state = 'released';
    this.stopTimers();
    await this.releaseLease(this.id!, this.token);
  }

  /** A renewal (or the acquisition) sent at `sentAt` succeeded: the lease is ours until then + TTL. */
  private confirmedAt(sentAt: number): void {
    this.heldUntil = sentAt + this.ttlMs - this.marginMs;
    clearTimeout(this.lostTimer);
    this.lostTimer = setTimeout(
      () => this.lose(`worker id ${this.id} was not renewed within its ${this.ttlMs} ms TTL`),
      Math.max(0, this.heldUntil - Date.now()),
    );
    this.lostTimer.unref();
  }

  private scheduleRenewal(delayMs: number): void {
    this.renewTimer = setTimeout(() => void this.renew(), delayMs);
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    if (this.state !== 'held') return;
    const sentAt = Date.now();
    let owned: boolean;
    try {
      owned = await this.renewLease(this.id!, this.token);
    } catch {
      // Retry sooner than usual; the lost timer bounds how long this may go on.
      if (this.state === 'held') this.scheduleRenewal(Math.max(1, Math.floor(this.renewIntervalMs / 3)));
      return;
    }
    if (this.state !== 'held') return;
    if (!owned) return this.lose(`worker id ${this.id} lapsed or was taken by another process`);
    this.confirmedAt(sentAt);
    this.scheduleRenewal(this.renewIntervalMs);
  }

  private lose(why: string): void {
    if (this.state !== 'held') return;
    this.state = 'lost';
    this.stopTimers();
    const reason = ChatError.unavailable(`snowflake worker lease lost: ${why}; stop issuing ids`);
    // Best effort: if the store still has it as ours (renewals were only slow), free it sooner.
    this.releaseLease(this.id!, this.token).catch(() => undefined);
    for (const listener of this.listeners) listener(reason);
  }

  private stopTimers(): void {
    clearTimeout(this.renewTimer);
    clearTimeout(this.lostTimer);
  }
}

