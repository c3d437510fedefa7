/**
 * Shares one fetch among many concurrent callers, each of which needs a result taken *after* it
 * asked (a read of offsets that must include what was written before the call). A caller that
 * asks while a fetch is in flight gets the next one, shared with everyone else who asked during
 * that flight; so a reconnect storm of thousands of resumes costs two fetches in flight at most.
 */
export class FreshFetch<T> {
  private running?: Promise<T>;
  private queued?: Promise<T>;

  constructor(private readonly fetch: () => Promise<T>) {}

  next(): Promise<T> {
    if (this.running === undefined) return this.start();
    this.queued ??= this.running.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  private startQueued(): Promise<T> {
    this.queued = undefined;
    return this.start();
  }

  private start(): Promise<T> {
    const flight: Promise<T> = this.fetch().finally(() => {
      if (this.running === flight) this.running = undefined;
    });
    this.running = flight;
    return flight;
  }
}
