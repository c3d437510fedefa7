import { createRequire } from 'node:module';

/**
 * A fix for kafkajs 2.2.4's request queue, applied once to its class on load.
 *
 * Every broker connection has a RequestQueue. Its `scheduleCheckPendingRequests` arms a timer even
 * when nothing waits, with a negative delay (`throttledUntil` is -1) that Node runs after 1 ms, and
 * the timer's check arms the next one: each connection spins a 1 ms timer for as long as it is
 * open (upstream issues tulios/kafkajs#1556 and #1704, unreleased). Measured here on an idle chat
 * server: about 1,600 event-loop wake-ups per second and 25-35 ms of CPU per second, with no
 * client and no message; on 16 chat servers that was half a core of the 2-core bench machine.
 *
 * The replacement arms a timer only while requests wait, for when the client-side throttle
 * lifts, or after CHECK_INTERVAL_MS when they wait on in-flight requests (each answer checks the
 * queue too), so a request is never left waiting; nothing else changes.
 */

/** kafkajs's own interval between checks of a queue whose requests wait (its CHECK_PENDING_REQUESTS_INTERVAL). */
const CHECK_INTERVAL_MS = 10;

/** The parts of kafkajs's RequestQueue this fix reads and replaces. */
export interface RequestQueueInternals {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

type RequestQueueClass = { prototype: RequestQueueInternals } & (new (opts: Record<string, unknown>) => RequestQueueInternals);

const FIXED = Symbol.for('chat.kafkajs.requestQueueFixed');

function scheduleCheckPendingRequests(this: RequestQueueInternals): void {
  if (this.pending.length === 0 || this.throttleCheckTimeoutId) return;
  const untilUnthrottled = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    untilUnthrottled > 0 ? untilUnthrottled : CHECK_INTERVAL_MS,
  );
}

/**
 * The RequestQueue class kafkajs itself uses (the same module instance), with the fix applied.
 * Idempotent; throws if kafkajs's layout changed, so an upgrade cannot silently drop the fix.
 */
export function fixKafkajsRequestQueue(): RequestQueueClass {
  const requireHere = createRequire(__filename);
  const RequestQueue = requireHere('kafkajs/src/network/requestQueue/index.js') as RequestQueueClass;
  const proto = RequestQueue.prototype as RequestQueueInternals & { [FIXED]?: true };
  if (typeof proto.scheduleCheckPendingRequests !== 'function' || typeof proto.checkPendingRequests !== 'function') {
    throw new Error('kafkajs RequestQueue changed: review internal/bus/kafkajs-request-queue.ts');
  }
  if (!proto[FIXED]) {
    proto.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
    proto[FIXED] = true;
  }
  return RequestQueue;
}
