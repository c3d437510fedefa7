import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { waitUntil } from '../testing/wait-until';
import { countAtOrUnder, EventLoopStalls } from './event-loop-stalls';
import { ChatMetrics } from './metrics';
import { parseMetrics } from './metrics-parse';

/** Keeps the event loop busy for `ms`, as a synchronous commit or a long GC would. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

describe('EventLoopStalls', () => {
  it('buckets a stall of the event loop by how long it lasted, and the buckets only grow', async () => {
    const registry = new Registry();
    const stalls = new EventLoopStalls({ registry });
    try {
      for (let i = 0; i < 10; i++) await tick(); // a few ordinary samples
      block(60);
      await tick();
      const first = parseMetrics(await registry.metrics());
      const count = first.get('chat_event_loop_delay_seconds_count')!;
      assert.ok(count > 10, `samples: ${count}`);
      assert.equal(first.get('chat_event_loop_delay_seconds_bucket{le="+Inf"}'), count);
      assert.ok(first.get('chat_event_loop_delay_seconds_bucket{le="0.05"}')! < count, 'the 60 ms stall is above 50 ms');
      assert.ok(first.get('chat_event_loop_delay_seconds_bucket{le="0.01"}')! > 0, 'ordinary samples are under 10 ms');
      assert.ok(first.get('chat_event_loop_delay_seconds_sum')! >= 0.05);

      await tick();
      const second = parseMetrics(await registry.metrics());
      assert.ok(second.get('chat_event_loop_delay_seconds_count')! >= count);
      assert.ok(second.get('chat_event_loop_delay_seconds_bucket{le="0.05"}')! >= first.get('chat_event_loop_delay_seconds_bucket{le="0.05"}')!);
    } finally {
      stalls.stop();
    }
  });

  it('observes garbage-collection pauses by kind', async () => {
    const registry = new Registry();
    const stalls = new EventLoopStalls({ registry });
    try {
      const scraped = parseMetrics(await registry.metrics());
      for (const kind of ['minor', 'major', 'incremental', 'weakcb']) assert.equal(scraped.get(`chat_gc_pause_seconds_count{kind="${kind}"}`), 0, kind);
      let keep: unknown[] = [];
      await waitUntil(async () => {
        // Short-lived garbage: scavenges of the young generation.
        for (let i = 0; i < 20_000; i++) keep = [{ i, s: `x${i}` }];
        await tick();
        return (parseMetrics(await registry.metrics()).get('chat_gc_pause_seconds_count{kind="minor"}') ?? 0) > 0;
      }, 5000, 'a minor GC observed');
      assert.ok(keep.length > 0);
    } finally {
      stalls.stop();
    }
  });

  it('counts the samples at or under a limit from percentiles', () => {
    // A histogram of the values 1..100: percentile p is the value p.
    const h = { min: 1, max: 100, percentile: (p: number) => Math.ceil(p) };
    assert.equal(countAtOrUnder(h, 100, 200), 100);
    assert.equal(countAtOrUnder(h, 100, 0.5), 0);
    assert.equal(countAtOrUnder(h, 100, 37), 37);
    assert.equal(countAtOrUnder(h, 1000, 50), 500);
  });
});

describe('ChatMetrics stall metrics', () => {
  it('are exposed only when asked for, and stop with close()', async () => {
    const off = new ChatMetrics({ service: 'chatd', instance: 'a', processMetrics: false });
    assert.doesNotMatch(await off.text(), /chat_event_loop_delay_seconds/);
    const on = new ChatMetrics({ service: 'chatd', instance: 'b', processMetrics: false, stallMetrics: true });
    await tick();
    const text = await on.text();
    assert.match(text, /chat_event_loop_delay_seconds_bucket\{le="0.001",service="chatd",instance="b"\}/);
    assert.match(text, /chat_gc_pause_seconds_count\{service="chatd",instance="b",kind="minor"\} /);
    on.close();
    off.close();
  });
});
