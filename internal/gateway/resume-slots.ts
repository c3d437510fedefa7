/**
 * The resume replays one server reads history for at once (CHAT_RESUME_CONCURRENCY): a reconnect
 * storm's hellos take slots first come, first served, and the rest wait their turn instead of all
 * reading at once. Waiting costs a device nothing it could lose (its connection is registered, so
 * live messages reach it meanwhile, and its replay follows), while thousands of reads in flight at
 * once would run past their deadlines at the history service and end as HISTORY_UNAVAILABLE gaps.
 */
export class ResumeSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private head = 0;

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`resume slots must be a positive integer, got ${limit}`);
  }

  /** Runs `replay` in a slot, once one is free. */
  async run<T>(replay: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await replay();
    } finally {
      this.release();
    }
  }

  /** Replays running, and waiting for a slot. */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length - this.head };
  }

  /** Hands the slot to the longest waiting replay, if any (it stays taken). */
  private release(): void {
    if (this.head < this.waiting.length) {
      const next = this.waiting[this.head];
      this.waiting[this.head++] = noop;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      next();
    } else {
      this.active--;
    }
  }
}

function noop(): void {}
