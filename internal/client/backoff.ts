/** How a reconnecting client spaces its attempts: capped exponential backoff with jitter. */
export interface BackoffPolicy {
  /** The delay before the first retry. Default 500 ms. */
  initialMs?: number;
  /** The longest delay. Default 30 000 ms. */
  maxMs?: number;
  /**
   * Each delay is spread uniformly over ±`jitter` of itself, so that many clients dropped together
   * (a server restart) do not come back in lockstep. Default 0.2.
   */
  jitter?: number;
}

/**
 * The delay before reconnect attempt `attempt` (1-based): `initialMs` doubling up to `maxMs`, then
 * jittered by ±`jitter`.
 */
export function backoffMs(attempt: number, policy: BackoffPolicy = {}, random: () => number = Math.random): number {
  const { initialMs = 500, maxMs = 30_000, jitter = 0.2 } = policy;
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(base * (1 - jitter + 2 * jitter * random()));
}
