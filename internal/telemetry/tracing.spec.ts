import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { FileSpanExporter, type SpanLine } from './file-span-exporter';
import { injectTraceContext, withRemoteParent, withSpan } from './trace-context';
import { startTracing, type Tracing } from './tracing';

const run = promisify(execFile);

function readLines(file: string): SpanLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as SpanLine);
}

function byName(lines: SpanLine[], name: string): SpanLine {
  const found = lines.filter((l) => l.name === name);
  assert.equal(found.length, 1, `exactly one span named ${name} in ${JSON.stringify(lines.map((l) => l.name))}`);
  return found[0];
}

describe('tracing without a trace file', () => {
  it('registers nothing: no trace context, spans are no-ops that still run the work', async () => {
    const tracing = startTracing({ serviceName: 'noop' });
    assert.deepEqual(injectTraceContext(), {});
    assert.equal(await withSpan('x', () => Promise.resolve(42)), 42);
    await withRemoteParent(undefined, 'y', () => Promise.resolve(assert.deepEqual(injectTraceContext(), {})));
    await tracing.shutdown();
  });
});

describe('tracing to a file', () => {
  let dir: string;
  let file: string;
  let tracing: Tracing;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'chat-tracing-'));
    file = join(dir, 'traces.jsonl');
    tracing = startTracing({ serviceName: 'svc-b', traceFile: file, instanceId: 'b-1', flushDelayMs: 10 });
  });
  after(async () => {
    await tracing.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a second start in the same process', () => {
    assert.throws(() => startTracing({ serviceName: 'again', traceFile: file }), /already started/);
  });

  it('carries a span from one provider (another "process") to a child here: same trace, right parent, both written', async () => {
    // Process A: its own provider, writing to the same file, not registered globally.
    const providerA = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new FileSpanExporter({ path: file, service: 'svc-a', instance: 'a-1' }))] });
    const sendSpan = providerA.getTracer('test').startSpan('a.send');
    const carrier = context.with(trace.setSpan(ROOT_CONTEXT, sendSpan), () => injectTraceContext());
    sendSpan.end();
    assert.match(carrier.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    // Process B (the registered tracing): the child, and a local span inside it.
    const seen = await withRemoteParent(carrier, 'b.handle', () => withSpan('b.inner', () => Promise.resolve(injectTraceContext())), { 'chat.path': 'relay' });
    assert.equal(seen.traceparent?.split('-')[1], sendSpan.spanContext().traceId, 'the inner span propagates the same trace');
    await tracing.forceFlush();
    await providerA.shutdown();

    const lines = readLines(file);
    const a = byName(lines, 'a.send');
    const b = byName(lines, 'b.handle');
    const inner = byName(lines, 'b.inner');
    assert.equal(a.service, 'svc-a');
    assert.equal(a.parentSpanId, undefined);
    assert.deepEqual([b.traceId, b.parentSpanId, b.service, b.instance, b.kind], [a.traceId, a.spanId, 'svc-b', 'b-1', 'CONSUMER']);
    assert.deepEqual([inner.traceId, inner.parentSpanId, inner.kind], [a.traceId, b.spanId, 'INTERNAL']);
    assert.deepEqual(b.attributes, { 'chat.path': 'relay' });
    assert.equal(b.status.code, 'UNSET');
    assert.ok(b.startMs > Date.now() - 60_000 && b.durationMs >= 0 && b.durationMs >= inner.durationMs);
  });

  it('records a failure on the span and rethrows it', async () => {
    await assert.rejects(withSpan('b.fails', () => Promise.reject(new Error('boom'))), /boom/);
    await tracing.forceFlush();
    const failed = byName(readLines(file), 'b.fails');
    assert.deepEqual(failed.status, { code: 'ERROR', message: 'boom' });
  });

  it('a child span without a usable carrier hangs off the active span', async () => {
    const inner = await withSpan('b.outer', () => withRemoteParent({ traceparent: 'garbage' }, 'b.orphan', () => Promise.resolve(injectTraceContext())));
    await tracing.forceFlush();
    const lines = readLines(file);
    const outer = byName(lines, 'b.outer');
    const orphan = byName(lines, 'b.orphan');
    assert.deepEqual([orphan.traceId, orphan.parentSpanId], [outer.traceId, outer.spanId]);
    assert.equal(inner.traceparent, `00-${orphan.traceId}-${orphan.spanId}-01`);
  });

  it('a real second process continues the trace, appends to the same file, and patched the four libraries loaded after it', async () => {
    const { stdout } = await withSpan('b.relay', async () => {
      const env = { ...process.env, CHAT_TEST_TRACE_FILE: file, CHAT_TEST_CARRIER: JSON.stringify(injectTraceContext()) };
      return run(process.execPath, ['--import', 'tsx', join(__dirname, 'testing', 'trace-child.ts')], { env, timeout: 60_000 });
    });
    assert.deepEqual(JSON.parse(stdout), { patched: { grpc: true, kafkajs: true, ioredis: true, cassandra: true } });
    await tracing.forceFlush();
    const lines = readLines(file);
    const relay = byName(lines, 'b.relay');
    const handle = byName(lines, 'child.handle');
    const inner = byName(lines, 'child.inner');
    assert.deepEqual([handle.traceId, handle.parentSpanId, handle.service, handle.instance], [relay.traceId, relay.spanId, 'child', 'child-1']);
    assert.deepEqual([inner.traceId, inner.parentSpanId], [relay.traceId, handle.spanId]);
    assert.deepEqual(handle.attributes, { 'chat.test': 'yes' });
  });
});
