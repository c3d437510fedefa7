import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { ExportResultCode, hrTimeToMilliseconds, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** One line of a trace file: one ended span. */
export interface SpanLine {
  traceId: string;
  spanId: string;
  /** Absent on a root span. */
  parentSpanId?: string;
  name: string;
  /** `INTERNAL`, `SERVER`, `CLIENT`, `PRODUCER` or `CONSUMER`. */
  kind: string;
  service: string;
  instance: string;
  /** Wall-clock start, epoch milliseconds (fractional). */
  startMs: number;
  durationMs: number;
  attributes: Attributes;
  /** `UNSET`, `OK` or `ERROR`, with the error's message when there is one. */
  status: { code: string; message?: string };
}

export interface FileSpanExporterOptions {
  /** The JSONL file; created (with its directory) if missing, always appended to. */
  path: string;
  service: string;
  instance: string;
}

/**
 * Writes ended spans as JSON lines (one {@link SpanLine} per span) to a file shared by every
 * process of a cluster. Each export is one `appendFileSync` of whole lines: the file is opened with
 * O_APPEND for every write, so concurrent writers from several processes never interleave inside a
 * line (POSIX appends position each write at the end atomically; a batch is one write).
 * Export failures are reported to the span processor, which drops the batch; tracing never throws
 * into the traced code.
 */
export class FileSpanExporter implements SpanExporter {
  private stopped = false;

  constructor(private readonly options: FileSpanExporterOptions) {
    mkdirSync(dirname(options.path), { recursive: true });
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) return resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter shut down') });
    try {
      const text = spans.map((s) => JSON.stringify(toLine(s, this.options)) + '\n').join('');
      if (text.length > 0) appendFileSync(this.options.path, text);
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  /** Nothing is buffered here: every export is written before it returns. */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }
}

/** The line of one span (exported for tests and tools that read trace files). */
export function toLine(span: ReadableSpan, who: { service: string; instance: string }): SpanLine {
  const ctx = span.spanContext();
  const line: SpanLine = {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    name: span.name,
    kind: SpanKind[span.kind] ?? String(span.kind),
    service: who.service,
    instance: who.instance,
    startMs: round3(hrTimeToMilliseconds(span.startTime)),
    durationMs: round3(hrTimeToMilliseconds(span.duration)),
    attributes: span.attributes,
    status: { code: SpanStatusCode[span.status.code] ?? String(span.status.code) },
  };
  if (span.parentSpanContext?.spanId) line.parentSpanId = span.parentSpanContext.spanId;
  if (span.status.message) line.status.message = span.status.message;
  return line;
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
