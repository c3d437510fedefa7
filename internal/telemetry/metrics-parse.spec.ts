import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMetrics, sampleValue } from './metrics-parse';

const TEXT = `# HELP chat_deliveries_total Messages handed to a delivery path.
# TYPE chat_deliveries_total counter
chat_deliveries_total{path="local",service="chat-server",instance="chat-1"} 3
chat_deliveries_total{path="relay",service="chat-server",instance="chat-1"} 12

chat_connections{service="chat-server",instance="chat-1"} 2 1700000000000
odd_metric{a="x\\"y\\\\z\\nw", b = "2"} 1.5e3
inf_bucket{le="+Inf"} +Inf
neg -Inf
nan NaN
nan2 Nan
bare 7
`;

describe('parseMetrics', () => {
  it('keys samples by name and labels, without the process labels by default', () => {
    const s = parseMetrics(TEXT);
    assert.equal(s.get('chat_deliveries_total{path="local"}'), 3);
    assert.equal(s.get('chat_deliveries_total{path="relay"}'), 12);
    assert.equal(s.get('chat_connections'), 2, 'a timestamp after the value is ignored');
    assert.equal(s.get('odd_metric{a="x\\"y\\\\z\\nw",b="2"}'), 1500, 'escapes survive, spacing is normalised');
    assert.equal(s.get('inf_bucket{le="+Inf"}'), Infinity);
    assert.equal(s.get('neg'), -Infinity);
    assert.ok(Number.isNaN(s.get('nan')));
    assert.equal(s.get('bare'), 7);
    assert.ok(Number.isNaN(s.get("nan2")), "prom-client prints Nan");
    assert.equal(s.size, 9);
  });

  it('keeps every label when asked', () => {
    const s = parseMetrics(TEXT, { dropLabels: [] });
    assert.equal(s.get('chat_deliveries_total{path="relay",service="chat-server",instance="chat-1"}'), 12);
  });

  it('sums samples of several processes into cluster totals', () => {
    const other = TEXT.replaceAll('chat-1', 'chat-2');
    const s = parseMetrics(`${TEXT}\n${other}`);
    assert.equal(s.get('chat_deliveries_total{path="relay"}'), 24);
    assert.equal(sampleValue(s, 'chat_deliveries_total{path="fallback"}'), 0);
  });

  it('throws on a line it cannot read', () => {
    assert.throws(() => parseMetrics('chat_x{path="relay" 1'), /Prometheus sample/);
    assert.throws(() => parseMetrics('chat_x abc'), /bad value/);
    assert.throws(() => parseMetrics('{x="1"} 2'), /not a Prometheus sample/);
  });
});
