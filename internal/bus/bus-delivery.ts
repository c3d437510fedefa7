import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { PARKED_HEADERS, isParkedTopic, parkedTopic, type BusHandler, type BusRecord, type DeliveryPolicy } from './bus';

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
  const { policy, log, signal } = ctx;
  const where = { topic: record.topic, key: record.key, group: ctx.group ?? 'broadcast' };
  let lastError: unknown;
  let attempts = 0;
  while (attempts < Math.max(1, policy.maxAttempts)) {
    if (attempts > 0 && !(await pause(backoff(policy, attempts), signal))) return 'abandoned';
    attempts++;
    try {
      await handler(record);
      return 'handled';
    } catch (err) {
      lastError = err;
      log.warn({ ...where, err, attempt: attempts }, 'bus handler failed');
    }
    if (signal.aborted) return 'abandoned';
  }

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
