import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';
import type { Connection } from '../../gen/chat/v1/session';
import type { ConnectionRegistry } from '../gateway/connection-registry';
import { waitUntil } from '../testing/wait-until';
import { MeshDelivery } from './mesh-delivery';
import type { RelayRouter } from './relay-router';

const message = { messageId: '42', conversationId: 'dm:ann:bob', senderId: 'ann', text: 'hi', createdAt: new Date() } as ChatMessage;
const bobOnB = { serverId: 'chat-b', serverAddress: '10.0.0.2:9090', userId: 'bob' } as Connection;

/** A MeshDelivery whose locate fails `failures` times, then finds bob on chat-b. */
function delivery(failures: number, locateRetryMs: number) {
  const sent: { serverId: string; users: string[] }[] = [];
  const errors: string[] = [];
  let locates = 0;
  let retries = 0;
  const mesh = new MeshDelivery({
    serverId: 'chat-a',
    registry: { deliverLocal: () => 0 } as unknown as ConnectionRegistry,
    sessions: {
      locate: () => (++locates <= failures ? Promise.reject(new Error('deadline exceeded')) : Promise.resolve([bobOnB])),
    },
    router: { send: (serverId: string, _address: string, item: { recipientUserIds: string[] }) => void sent.push({ serverId, users: item.recipientUserIds }) } as unknown as RelayRouter,
    metrics: { deliveries: { inc: () => undefined }, deliveryLatency: { observe: () => undefined }, locateRetries: { inc: () => void retries++ } } as never,
    log: pino({ level: 'error' }, { write: (line: string) => void errors.push(line) }),
    locateRetryMs,
  });
  return { mesh, sent, errors, locates: () => locates, retries: () => retries };
}

describe('MeshDelivery', () => {
  it('tries a failed locate again, backing off, and relays once it answers', async () => {
    const d = delivery(2, 5_000);
    const t0 = Date.now();
    d.mesh.deliver(message, ['ann', 'bob']);
    await waitUntil(() => d.sent.length > 0, 5_000, 'the relay');
    assert.deepEqual(d.sent, [{ serverId: 'chat-b', users: ['bob'] }]);
    assert.equal(d.locates(), 3);
    assert.equal(d.retries(), 2);
    assert.ok(Date.now() - t0 >= 250 + 500, 'waited 250 ms, then 500 ms');
    assert.deepEqual(d.errors, []);
  });

  it('gives up after CHAT_DELIVERY_LOCATE_RETRY_MS and says so (0: at once)', async () => {
    const d = delivery(Infinity, 0);
    d.mesh.deliver(message, ['bob']);
    await waitUntil(() => d.errors.length > 0, 2_000, 'the error');
    assert.equal(d.locates(), 1);
    assert.match(d.errors[0], /cannot locate recipients; their devices get the message on their next resume/);
    assert.deepEqual(d.sent, []);
  });
});
