/**
 * A token bucket: `ratePerSec` tokens refill continuously up to `burst`. One per connection for
 * sends; checking costs two multiplications, no timers.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.lastMs = now();
  }

  /** Takes one token if there is one. */
  tryTake(): boolean {
    const t = this.now();
    // A wall clock stepped backwards refills nothing; it must not take tokens away (found by the fault suite).
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, t - this.lastMs) * this.ratePerSec) / 1000);
    this.lastMs = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** When a token was last asked for (taken or not). */
  get lastTakeMs(): number {
    return this.lastMs;
  }
}

/**
 * One token bucket per key (per user, for sends over all of a user's connections to this server).
 * Buckets that have refilled are dropped by `prune`, so memory follows the active keys.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token of `key`'s bucket if there is one. */
  tryTake(key: string): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(this.ratePerSec, this.burst, this.now)));
    return bucket.tryTake();
  }

  /** Forgets buckets idle long enough to be full again (they would start full anyway). */
  prune(): void {
    const fullAfterMs = (this.burst / this.ratePerSec) * 1000;
    for (const [key, bucket] of this.buckets) if (this.now() - bucket.lastTakeMs >= fullAfterMs) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
