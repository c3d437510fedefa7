import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { fixKafkajsRequestQueue, type RequestQueueInternals } from './kafkajs-request-queue';

/** A queue as kafkajs makes one per broker connection; requests are stand-ins that record being sent. */
function queue(maxInFlightRequests = 1): RequestQueueInternals & { push(r: unknown): void; fulfillRequest(r: { correlationId: number; payload: unknown; size: number }): void; destroy(): void } {
  const RequestQueue = fixKafkajsRequestQueue();
  const noop = () => undefined;
  const logger = { debug: noop, info: noop, warn: noop, error: noop };
  return new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'spec', broker: 'spec:9092', logger }) as never;
}

function request(correlationId: number, sent: number[]) {
  const noop = () => undefined;
  return { entry: { correlationId, resolve: noop, reject: noop }, expectResponse: true, sendRequest: () => sent.push(correlationId) };
}

describe('kafkajs request queue fix', () => {
  it('arms no timer on a connection where nothing waits (kafkajs 2.2.4 spins one every 1 ms)', () => {
    const q = queue();
    q.checkPendingRequests(); // what every answer does
    assert.equal(q.throttleCheckTimeoutId, null);
    q.destroy();
  });

  it('still sends a request held by the in-flight limit when the answer before it arrives', async () => {
    const q = queue(1);
    const sent: number[] = [];
    q.push(request(1, sent));
    q.push(request(2, sent));
    assert.deepEqual(sent, [1]);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    assert.deepEqual(sent, [1, 2]);
    q.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
    // The check armed while request 2 waited runs once, finds nothing, and arms no other.
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(q.throttleCheckTimeoutId, null, 'the queue is empty: no timer left behind');
    q.destroy();
  });

  it('sends a request held by a broker throttle once it lifts', async () => {
    const q = queue(10);
    const sent: number[] = [];
    q.throttledUntil = Date.now() + 30;
    q.push(request(7, sent));
    assert.deepEqual(sent, []);
    assert.notEqual(q.throttleCheckTimeoutId, null, 'a check is armed for when the throttle lifts');
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(sent, [7]);
    q.fulfillRequest({ correlationId: 7, payload: null, size: 0 });
    assert.equal(q.throttleCheckTimeoutId, null);
    q.destroy();
  });

  it('applies once, to the module of the kafkajs the bus loads', () => {
    assert.equal(fixKafkajsRequestQueue(), fixKafkajsRequestQueue());
    const kafkajs = dirname(require.resolve('kafkajs'));
    assert.ok(require.resolve('kafkajs/src/network/requestQueue/index.js').startsWith(`${kafkajs}/`));
  });
});
