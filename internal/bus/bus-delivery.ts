import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { PARKED_HEADERS, isParkedTopic, parkedTopic, type BatchSubscribeOptions, type BusBatchHandler, type BusHandler, type BusRecord, type DeliveryPolicy } from './bus';

/** What became of one record: acknowledge it unless `abandoned`. */
export type DeliveryOutcome = 'handled' | 'parked' | 'abandoned';

export interface DeliveryContext {
  policy: DeliveryPolicy;
  log: Logger;
  /** The subscription's group, or undefined for broadcast. */
  group?: string;
  /** Publishes a record (to the parked topic); rejects when it could not. */
  publish(record: BusRecord): Promise<void>;
  /** Aborted when the subscription closes: stop retrying and leave the record unacknowledged. */
  signal: AbortSignal;
}

const MAX_ERROR_HEADER = 500;

/**
 * The delivery policy every adapter shares: call the handler, on failure call it again in place
 * with backoff up to `maxAttempts`, then park the record on `<topic>.parked` and log it. Parking
 * is retried until it succeeds or the subscription closes, so a record is never acknowledged
 * without having been handled or parked. Never rejects.
 */
export async function deliver(record: BusRecord, handler: BusHandler, ctx: DeliveryContext): Promise<DeliveryOutcome> {
  const where = { topic: record.topic, key: record.key, group: ctx.group ?? 'broadcast' };
  const tried = await attempt(() => handler(record), where, ctx);
  if (tried === 'handled' || tried === 'abandoned') return tried;
  return park(record, tried, ctx);
}

/**
 * The batch policy every adapter shares (see the Bus interface): the whole batch with the
 * per-record policy's attempts and backoff; if it still fails, each record alone, in order, under
 * {@link deliver} (so a record that keeps failing is parked by itself). A batch of one is parked
 * after its attempts, not tried again. Resolves to how many records, from the first, were handled
 * or parked: all of them unless the subscription closed meanwhile. Never rejects.
 */
export async function deliverBatch(records: BusRecord[], handler: BusBatchHandler, ctx: DeliveryContext): Promise<number> {
  const [first] = records;
  if (first === undefined) return 0;
  const where = { topic: first.topic, key: first.key, group: ctx.group ?? 'broadcast', batch: records.length };
  const tried = await attempt(() => handler(records), where, ctx);
  if (tried === 'handled') return records.length;
  if (tried === 'abandoned') return 0;
  if (records.length === 1) return (await park(first, tried, ctx)) === 'abandoned' ? 0 : 1;
  ctx.log.warn({ ...where, err: tried.error }, 'bus batch kept failing; handing its records to the handler one at a time');
  for (const [i, record] of records.entries()) {
    if ((await deliver(record, (r) => handler([r]), ctx)) === 'abandoned') return i;
  }
  return records.length;
}

/**
 * How a subscription hands its records to the handler: one at a time or in batches. The adapters
 * take up to `maxBatch` consecutive records of one partition and acknowledge as many as `run`
 * says, from the first.
 */
export interface Dispatch {
  readonly maxBatch: number;
  /** How long a batch that is not full may wait for more records (see BatchSubscribeOptions). */
  readonly lingerMs: number;
  /** Delivers 1..maxBatch records; resolves to how many may be acknowledged, from the first. Never rejects. */
  run(records: BusRecord[], ctx: DeliveryContext): Promise<number>;
}

export function perRecord(handler: BusHandler): Dispatch {
  return {
    maxBatch: 1,
    lingerMs: 0,
    run: async ([record], ctx) => {
      if (record === undefined) return 0;
      return (await deliver(record, handler, ctx)) === 'abandoned' ? 0 : 1;
    },
  };
}

/** @throws RangeError when `maxBatch` is not a positive integer or `lingerMs` is negative. */
export function inBatches(handler: BusBatchHandler, options: BatchSubscribeOptions): Dispatch {
  const { maxBatch, lingerMs = 0 } = options;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
  if (!Number.isFinite(lingerMs) || lingerMs < 0) throw new RangeError(`lingerMs must be a non-negative number, got ${lingerMs}`);
  return { maxBatch, lingerMs, run: (records, ctx) => deliverBatch(records, handler, ctx) };
}

interface Failed {
  error: unknown;
  attempts: number;
}

/** Calls `call` up to `maxAttempts` times with backoff; what the last call came to. */
async function attempt(call: () => Promise<void> | void, where: Record<string, unknown>, ctx: DeliveryContext): Promise<'handled' | 'abandoned' | Failed> {
  const { policy, log, signal } = ctx;
  let error: unknown;
  let attempts = 0;
  while (attempts < Math.max(1, policy.maxAttempts)) {
    if (attempts > 0 && !(await pause(backoff(policy, attempts), signal))) return 'abandoned';
    attempts++;
    try {
      await call();
      return 'handled';
    } catch (err) {
      error = err;
      log.warn({ ...where, err, attempt: attempts }, 'bus handler failed');
    }
    if (signal.aborted) return 'abandoned';
  }
  return { error, attempts };
}

/** Publishes `record` to its parked topic (retrying until it is, or the subscription closes). */
async function park(record: BusRecord, failed: Failed, ctx: DeliveryContext): Promise<DeliveryOutcome> {
  const { policy, log, signal } = ctx;
  const where = { topic: record.topic, key: record.key, group: ctx.group ?? 'broadcast' };
  const { error: lastError, attempts } = failed;
  if (isParkedTopic(record.topic)) {
    // Parking a parked record again would only grow a `.parked.parked` chain nobody reads.
    log.error({ ...where, err: lastError, attempts }, 'bus handler failed on a parked record; dropped');
    return 'parked';
  }
  const parked: BusRecord = {
    topic: parkedTopic(record.topic),
    key: record.key,
    payload: record.payload,
    headers: {
      ...record.headers,
      [PARKED_HEADERS.topic]: record.topic,
      [PARKED_HEADERS.group]: where.group,
      [PARKED_HEADERS.attempts]: String(attempts),
      [PARKED_HEADERS.error]: errorMessage(lastError).slice(0, MAX_ERROR_HEADER),
    },
  };
  log.error({ ...where, err: lastError, attempts, parkedOn: parked.topic }, 'bus handler kept failing; record parked');
  for (let n = 1; ; n++) {
    try {
      await ctx.publish(parked);
      return 'parked';
    } catch (err) {
      log.error({ ...where, err, parkedOn: parked.topic }, 'could not park a record; retrying');
    }
    if (!(await pause(backoff(policy, n), signal))) return 'abandoned';
  }
}

function backoff(policy: DeliveryPolicy, failures: number): number {
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (failures - 1));
}

/** Waits `ms`; false when the signal aborted first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
