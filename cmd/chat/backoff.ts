/**
 * Delay before reconnect attempt `attempt` (1-based): 0.5 s doubling up to 30 s, with ±20% jitter so
 * that many clients dropped together do not come back in lockstep.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
