import { constants, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import { Histogram, type Registry } from 'prom-client';

/** Seconds, 0.5 ms to 1 s: a chat message's budget is a few milliseconds, so the buckets are fine there. */
export const EVENT_LOOP_DELAY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];
/** Seconds; a scavenge is well under a millisecond, a full mark-compact of a large heap tens of them. */
export const GC_PAUSE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5];

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export interface EventLoopStallsOptions {
  registry: Registry;
  /** How often the event loop is sampled, ms. Each sample is how late a timer of this period fired. */
  resolutionMs?: number;
}

/**
 * What keeps the event loop from answering: how late it runs (a histogram of the delay of a timer
 * sampled every `resolutionMs`) and every garbage-collection pause. prom-client's default process
 * metrics have both, but too coarse for a millisecond budget: the loop lag as a few percentiles at
 * 10 ms resolution, and GC pauses in buckets from 1 ms to 5 s, counting only the first pause of
 * each batch of GC entries.
 *
 * The delay histogram is libuv-timed (`monitorEventLoopDelay`, no JavaScript per sample); it is
 * turned into cumulative Prometheus buckets at each scrape and then reset, so the buckets only grow.
 */
export class EventLoopStalls {
  private readonly delay: IntervalHistogram;
  private readonly gc: PerformanceObserver;
  private readonly resolutionNs: number;
  /** Cumulative samples at or under each bound of EVENT_LOOP_DELAY_BUCKETS, then +Inf. */
  private readonly delayCounts = new Array<number>(EVENT_LOOP_DELAY_BUCKETS.length + 1).fill(0);
  private delaySumSeconds = 0;

  constructor(opts: EventLoopStallsOptions) {
    const resolutionMs = Math.max(1, Math.trunc(opts.resolutionMs ?? 1));
    this.resolutionNs = resolutionMs * 1e6;
    this.delay = monitorEventLoopDelay({ resolution: resolutionMs });
    this.delay.enable();

    const gcPauses = new Histogram({ name: 'chat_gc_pause_seconds', help: 'Garbage-collection pauses of the main thread, by kind, seconds.', labelNames: ['kind'], buckets: GC_PAUSE_BUCKETS, registers: [opts.registry] });
    for (const kind of Object.values(GC_KINDS)) gcPauses.zero({ kind });
    this.gc = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = GC_KINDS[((entry as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind ?? -1] ?? 'other';
        gcPauses.observe({ kind }, entry.duration / 1000);
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });

    // A plain object with get() is a metric to prom-client's registry: the buckets come from the
    // libuv histogram at scrape time, not from an observe() per sample.
    opts.registry.registerMetric({
      name: 'chat_event_loop_delay_seconds',
      help: 'How late the event loop ran a timer due every resolution, seconds (stalls: synchronous work, GC).',
      type: 'histogram',
      get: () => Promise.resolve(this.delayMetric()),
      reset: () => undefined,
    } as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Stops sampling and observing; the metrics keep their last values. */
  stop(): void {
    this.delay.disable();
    this.gc.disconnect();
  }

  private delayMetric() {
    this.drainDelay();
    const name = 'chat_event_loop_delay_seconds';
    const values = EVENT_LOOP_DELAY_BUCKETS.map((le, i) => ({ metricName: `${name}_bucket`, labels: { le }, value: this.delayCounts[i] }));
    const count = this.delayCounts[EVENT_LOOP_DELAY_BUCKETS.length];
    values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' as unknown as number }, value: count });
    return {
      name,
      help: 'How late the event loop ran a timer due every resolution, seconds (stalls: synchronous work, GC).',
      type: 'histogram',
      aggregator: 'sum',
      values: [...values, { metricName: `${name}_sum`, labels: {}, value: this.delaySumSeconds }, { metricName: `${name}_count`, labels: {}, value: count }],
    };
  }

  /** Adds the samples since the last scrape to the cumulative buckets, and starts a new interval. */
  private drainDelay(): void {
    const h = this.delay;
    const n = h.count;
    if (n === 0) return;
    // The libuv histogram records the whole period between two timer runs; the delay is what
    // exceeds the resolution.
    const atOrUnder = (seconds: number): number => countAtOrUnder(h, n, seconds * 1e9 + this.resolutionNs);
    EVENT_LOOP_DELAY_BUCKETS.forEach((le, i) => (this.delayCounts[i] += atOrUnder(le)));
    this.delayCounts[EVENT_LOOP_DELAY_BUCKETS.length] += n;
    this.delaySumSeconds += (Math.max(0, h.mean - this.resolutionNs) * n) / 1e9;
    h.reset();
  }
}

/**
 * How many of the `n` samples of `h` are at most `limitNs`: the histogram offers percentiles, not
 * counts, so this searches for the largest percentile whose value is within the limit.
 */
export function countAtOrUnder(h: Pick<IntervalHistogram, 'min' | 'max' | 'percentile'>, n: number, limitNs: number): number {
  if (h.max <= limitNs) return n;
  if (h.min > limitNs) return 0;
  let lo = 0; // percentile known within the limit
  let hi = 100; // percentile known beyond it
  for (let i = 0; i < 30 && hi - lo > 1e-7; i++) {
    const mid = (lo + hi) / 2;
    if (h.percentile(mid) <= limitNs) lo = mid;
    else hi = mid;
  }
  return Math.round((lo / 100) * n);
}
