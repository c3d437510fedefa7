/**
 * A small seeded PRNG (mulberry32) for the fault suite: every generated send, conversation pick
 * and backoff jitter comes from it, so `FAULT_SEED=<seed>` replays a run's choices (timing, being
 * real processes on real engines, does not replay).
 */
export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** The seed of this run: FAULT_SEED when set, else a fresh one (printed by the suite). */
  static fromEnv(): SeededRandom {
    const env = process.env.FAULT_SEED;
    const seed = env && env.trim() !== '' ? Number(env) : Math.floor(Math.random() * 2 ** 31);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`FAULT_SEED must be a non-negative integer, got ${env}`);
    return new SeededRandom(seed);
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)];
  }

  /** A child generator for one scenario, so adding a scenario does not shift the others' choices. */
  fork(tag: string): SeededRandom {
    let h = this.seed ^ 0x9e3779b9;
    for (const ch of tag) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    return new SeededRandom(h >>> 0);
  }
}
