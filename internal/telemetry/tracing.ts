import { hostname } from 'node:os';
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { CassandraDriverInstrumentation } from '@opentelemetry/instrumentation-cassandra-driver';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { FileSpanExporter } from './file-span-exporter';

export interface TracingOptions {
  /** `service.name` of every span (`chat-server`, `sync-worker`, ...). */
  serviceName: string;
  /**
   * JSONL file that ended spans are appended to (CHAT_TRACE_FILE); several processes may share it.
   * Without it nothing is registered and the tracing API stays a no-op.
   */
  traceFile?: string;
  /** `service.instance.id` (CHAT_SERVER_ID for chat servers). Default `<hostname>/<pid>`. */
  instanceId?: string;
  /** How long ended spans wait to be written in one batch. Default 200 ms. */
  flushDelayMs?: number;
}

export interface Tracing {
  /** Writes the spans ended so far. */
  forceFlush(): Promise<void>;
  /** Writes what is pending, removes the instrumentations and unregisters the provider. */
  shutdown(): Promise<void>;
}

/** `service.instance.id` (semantic conventions, incubating: not exported by the stable entry). */
const ATTR_SERVICE_INSTANCE_ID = 'service.instance.id';

let active = false;

/**
 * Starts OpenTelemetry tracing for this process: a NodeTracerProvider with the AsyncLocalStorage
 * context manager, the W3C tracecontext propagator, the grpc-js, kafkajs, ioredis and
 * cassandra-driver instrumentations, and a {@link FileSpanExporter} on `traceFile`.
 *
 * The instrumentations patch those libraries when they are first `require`d, so this must run
 * before anything loads them. A `cmd/<name>/main.ts` therefore imports nothing but this file (and
 * node: modules) statically, calls it first, and only then loads its composition module:
 *
 * ```ts
 * const tracing = startTracing({ serviceName: 'chat-server', traceFile: process.env.CHAT_TRACE_FILE, instanceId });
 * const { main } = createRequire(__filename)('./module') as typeof import('./module');
 * ```
 *
 * A `require` (here through `createRequire`, which lint accepts) is what the instrumentations hook.
 * `await import('./module')` also works in the built `dist/` (tsc with module commonjs compiles it
 * to a require) but NOT under tsx (`node --import tsx`), which keeps a native dynamic import that
 * bypasses the hook: the libraries then load unpatched and no gRPC/Kafka/Redis/Cassandra spans or
 * context propagation happen. tracing.spec.ts checks the patching in a child process.
 *
 * and calls `tracing.shutdown()` last on exit, after its servers and clients closed, so the last
 * spans are written. Spans of a process killed with SIGKILL that were not yet flushed are lost.
 *
 * What is traced: gRPC client and server calls (trace context in metadata; one span per call, so
 * a bidi stream is one span, and per-batch context rides in the payload via trace-context.ts),
 * Kafka send and process (context in record headers; handlers run in the consumer span), Redis
 * commands and Cassandra queries made inside a traced operation (background work without a parent
 * span is not recorded for Redis).
 *
 * One tracing per process: a second call before `shutdown` throws.
 */
export function startTracing(opts: TracingOptions): Tracing {
  if (!opts.traceFile) return { forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
  if (active) throw new Error('startTracing: tracing is already started in this process');
  active = true;
  const instance = opts.instanceId ?? `${hostname()}/${process.pid}`;
  const exporter = new FileSpanExporter({ path: opts.traceFile, service: opts.serviceName, instance });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName, [ATTR_SERVICE_INSTANCE_ID]: instance }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: opts.flushDelayMs ?? 200, maxQueueSize: 8192, maxExportBatchSize: 512 })],
  });
  // Default context manager (AsyncLocalStorage); tracecontext only (no baggage: we carry none).
  provider.register({ propagator: new W3CTraceContextPropagator() });
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new GrpcInstrumentation(),
      new KafkaJsInstrumentation(),
      new IORedisInstrumentation({ requireParentSpan: true }),
      new CassandraDriverInstrumentation(),
    ],
  });
  let stopping: Promise<void> | undefined;
  return {
    forceFlush: () => provider.forceFlush(),
    shutdown: () =>
      (stopping ??= (async () => {
        unregister();
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          context.disable();
          propagation.disable();
          active = false;
        }
      })()),
  };
}
