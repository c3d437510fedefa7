import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChatMetrics, secondsSince } from './metrics';
import { parseMetrics } from './metrics-parse';

describe('ChatMetrics', () => {
  it('exposes every named instrument, each label value starting at zero', async () => {
    const m = new ChatMetrics({ service: 'chat-server', instance: 'chat-1', processMetrics: false });
    const s = parseMetrics(await m.text());
    assert.equal(s.get('chat_connections'), 0);
    for (const k of ['chat_sends_total{result="ok"}', 'chat_sends_total{result="error"}']) assert.equal(s.get(k), 0, k);
    for (const p of ['local', 'relay', 'fallback']) {
      assert.equal(s.get(`chat_deliveries_total{path="${p}"}`), 0);
      assert.equal(s.get(`chat_delivery_latency_seconds_count{path="${p}"}`), 0);
    }
    for (const r of ['acked', 'failed']) assert.equal(s.get(`chat_relay_batches_total{result="${r}"}`), 0);
    for (const kind of ['delivery', 'event', 'presence', 'connections_changed']) for (const path of ['relay', 'fallback']) assert.equal(s.get(`chat_inbox_items_total{kind="${kind}",path="${path}"}`), 0);
    for (const r of ['unknown_peer', 'stream_down', 'ack_timeout', 'relay_off']) assert.equal(s.get(`chat_fallback_batches_total{reason="${r}"}`), 0);
    for (const r of ['created', 'duplicate', 'error']) assert.equal(s.get(`chat_sync_writes_total{result="${r}"}`), 0);
    assert.equal(s.get('chat_relay_batch_messages_count'), 0);
    assert.equal(s.get('chat_sync_lag_seconds_count'), 0);
    assert.equal(m.contentType.split(';')[0], 'text/plain');
  });

  it('counts, labels every sample with service and instance, and buckets as specified', async () => {
    const m = new ChatMetrics({ service: 'chat-server', instance: 'chat-2', processMetrics: false });
    m.connections.inc();
    m.connections.inc();
    m.connections.dec();
    m.sends.inc({ result: 'ok' });
    m.deliveries.inc({ path: 'relay' }, 500);
    m.deliveries.inc({ path: 'local' });
    m.relayBatches.inc({ result: 'acked' });
    m.relayBatchMessages.observe(7);
    m.fallbackBatches.inc({ reason: 'stream_down' });
    m.deliveryLatency.observe({ path: 'relay' }, 0.003);
    m.syncWrites.inc({ result: 'duplicate' });
    m.syncLag.observe(0.2);
    const text = await m.text();
    for (const line of text.split('\n').filter((l) => l.startsWith('chat_'))) {
      assert.match(line, /service="chat-server"/, line);
      assert.match(line, /instance="chat-2"/, line);
    }
    const s = parseMetrics(text);
    assert.equal(s.get('chat_connections'), 1);
    assert.equal(s.get('chat_sends_total{result="ok"}'), 1);
    assert.equal(s.get('chat_deliveries_total{path="relay"}'), 500);
    assert.equal(s.get('chat_deliveries_total{path="local"}'), 1);
    assert.equal(s.get('chat_relay_batches_total{result="acked"}'), 1);
    assert.equal(s.get('chat_relay_batch_messages_bucket{le="5"}'), 0);
    assert.equal(s.get('chat_relay_batch_messages_bucket{le="10"}'), 1);
    assert.equal(s.get('chat_relay_batch_messages_sum'), 7);
    const relayBuckets = [...s.keys()].filter((k) => k.startsWith('chat_relay_batch_messages_bucket')).map((k) => /le="([^"]+)"/.exec(k)![1]);
    assert.deepEqual(relayBuckets, ['1', '2', '5', '10', '20', '50', '100', '200', '500', '+Inf']);
    assert.equal(s.get('chat_fallback_batches_total{reason="stream_down"}'), 1);
    assert.equal(s.get('chat_delivery_latency_seconds_bucket{le="0.0025",path="relay"}'), 0);
    assert.equal(s.get('chat_delivery_latency_seconds_bucket{le="0.005",path="relay"}'), 1);
    assert.equal(s.get('chat_delivery_latency_seconds_bucket{le="0.0005",path="relay"}'), 0);
    assert.equal(s.get('chat_delivery_latency_seconds_bucket{le="5",path="relay"}'), 1);
    assert.equal(s.get('chat_sync_writes_total{result="duplicate"}'), 1);
    assert.equal(s.get('chat_sync_lag_seconds_count'), 1);
  });

  it('includes process metrics by default, and two instances do not collide', async () => {
    const a = new ChatMetrics({ service: 'sync-worker', instance: 'a' });
    const b = new ChatMetrics({ service: 'sync-worker', instance: 'b' });
    a.syncWrites.inc({ result: 'created' });
    const sa = parseMetrics(await a.text());
    const sb = parseMetrics(await b.text());
    assert.ok(sa.has('process_cpu_user_seconds_total'));
    assert.ok([...sa.keys()].some((k) => k.startsWith('nodejs_eventloop_lag')));
    assert.equal(sa.get('chat_sync_writes_total{result="created"}'), 1);
    assert.equal(sb.get('chat_sync_writes_total{result="created"}'), 0);
  });
});

describe('secondsSince', () => {
  it('accepts a Date, an ISO string or epoch ms, and never goes negative', () => {
    const now = Date.parse('2026-11-28T04:43:45.000Z');
    assert.equal(secondsSince(new Date('2026-11-28T04:43:44.500Z'), now), 0.5);
    assert.equal(secondsSince('2026-11-28T04:43:44.000Z', now), 1);
    assert.equal(secondsSince(now - 250, now), 0.25);
    assert.equal(secondsSince(now + 1000, now), 0);
    assert.equal(secondsSince('not a date', now), 0);
  });
});
