/**
 * Coalesces one-item calls into batch calls: the items queued within `windowMs` (0: within the
 * current event-loop turn, so a lone call waits for nothing but the turn) or up to `maxBatch` of
 * them travel in one `send`, and each caller gets its own item's outcome. `send` answers one result
 * per item in order; an Error in its answer rejects that item alone, a failed `send` every item of
 * the batch.
 *
 * Why: each gRPC call costs both ends far more than its bytes, and each call that outlives its
 * deadline is an HTTP/2 stream reset; a peer that sees too many resets (nghttp2's rapid-reset
 * guard: a burst of 1,000, then about 33 a second) closes the whole connection with
 * INTERNAL_ERROR, failing every call on it. Per-connection calls in a reconnect storm did that.
 */
export class CallBatcher<Item, Result> {
  private queue: { item: Item; resolve(r: Result): void; reject(err: unknown): void }[] = [];
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;

  constructor(
    private readonly send: (items: Item[]) => Promise<(Result | Error)[]>,
    private readonly opts: { windowMs: number; maxBatch: number },
  ) {}

  call(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.opts.maxBatch) this.flush();
      else if (this.opts.windowMs > 0) this.timer ??= setTimeout(() => this.flush(), this.opts.windowMs);
      else this.immediate ??= setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    this.send(batch.map((b) => b.item)).then(
      (results) =>
        batch.forEach((b, i) => {
          const r = results[i];
          if (r instanceof Error) b.reject(r);
          else if (i >= results.length) b.reject(new Error(`batch answered ${results.length} results for ${batch.length} items`));
          else b.resolve(r);
        }),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    );
  }
}
