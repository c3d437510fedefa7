import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

/** The tracer of our own spans (instrumentations have theirs). */
const TRACER = 'chat-mesh';

/**
 * The W3C trace context (`traceparent`, and `tracestate` when there is one) of the active span, to
 * carry across a hop no instrumentation sees: a relay batch inside a long-lived gRPC stream, a
 * record built before it is published. Empty when nothing is traced (no span, or tracing not
 * started), so it costs a few bytes at most.
 */
export function injectTraceContext(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/**
 * Runs `fn` in a new span whose parent is the remote span in `carrier` (what
 * {@link injectTraceContext} produced on the other side). Without a valid trace context in the
 * carrier, the parent is the active span, if any. A rejection is recorded on the span (exception
 * event, ERROR status) and rethrown; the span ends when `fn` settles.
 *
 * Kind CONSUMER: the work is triggered by a message from another process.
 */
export function withRemoteParent<T>(carrier: Readonly<Record<string, string>> | undefined, spanName: string, fn: (span: Span) => Promise<T>, attributes?: Attributes): Promise<T> {
  const remote = carrier ? propagation.extract(context.active(), carrier) : context.active();
  return run(spanName, SpanKind.CONSUMER, remote, fn, attributes);
}

/** Runs `fn` in a new local (INTERNAL) span, child of the active one; errors as in {@link withRemoteParent}. */
export function withSpan<T>(spanName: string, fn: (span: Span) => Promise<T>, attributes?: Attributes): Promise<T> {
  return run(spanName, SpanKind.INTERNAL, context.active(), fn, attributes);
}

function run<T>(name: string, kind: SpanKind, parent: Context, fn: (span: Span) => Promise<T>, attributes: Attributes | undefined): Promise<T> {
  return trace.getTracer(TRACER).startActiveSpan(name, { kind, attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}
