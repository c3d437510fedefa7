import type { HistoryCatchUp } from './history-catch-up';
import { FreshFetch } from './fresh-fetch';

/** Offsets per partition of the message log: where it ends, and what the sync worker committed. */
export interface LogOffsets {
  /** The next offset to be written, per partition (everything acknowledged lies below it). */
  endOffsets(): Promise<Map<number, bigint>>;
  /** The sync worker group's committed offset (the next one it will read), per partition; absent when it never committed. */
  committedOffsets(): Promise<Map<number, bigint>>;
}

export interface LogCatchUpOptions {
  /** How often the committed offsets are read again while someone waits. */
  pollMs: number;
  now?: () => number;
}

/**
 * History is caught up when the sync worker, which writes a record to the store before it commits
 * its offset, has committed past the log's end as it was when the caller asked. Reads are shared
 * by all waiting callers (see FreshFetch), so many resumes at once cost a few admin requests.
 */
export class LogCatchUp implements HistoryCatchUp {
  private readonly ends: FreshFetch<Map<number, bigint>>;
  private readonly committed: FreshFetch<Map<number, bigint>>;
  private readonly now: () => number;

  constructor(
    offsets: LogOffsets,
    private readonly opts: LogCatchUpOptions,
  ) {
    this.ends = new FreshFetch(() => offsets.endOffsets());
    this.committed = new FreshFetch(() => offsets.committedOffsets());
    this.now = opts.now ?? Date.now;
  }

  async waitForHistory(timeoutMs: number): Promise<boolean> {
    const deadline = this.now() + timeoutMs;
    const target = await this.beforeDeadline(this.ends.next(), deadline);
    if (target === undefined) return false;
    for (;;) {
      const committed = await this.beforeDeadline(this.committed.next(), deadline);
      if (committed === undefined) return false;
      if (caughtUp(target, committed)) return true;
      const left = deadline - this.now();
      if (left <= 0) return false;
      await sleep(Math.min(this.opts.pollMs, left));
    }
  }

  /** The fetch's result, or undefined when it failed or the deadline passed first. */
  private async beforeDeadline<T>(fetch: Promise<T>, deadline: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - this.now()))));
    try {
      return await Promise.race([fetch.catch(() => undefined), expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function caughtUp(target: ReadonlyMap<number, bigint>, committed: ReadonlyMap<number, bigint>): boolean {
  for (const [partition, end] of target) {
    if (end > 0n && (committed.get(partition) ?? -1n) < end) return false;
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
