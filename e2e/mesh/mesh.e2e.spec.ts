import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChatClient } from '../../internal/client/chat-client';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { sampleValue } from '../../internal/telemetry/metrics-parse';
import { waitUntil } from '../../internal/testing/wait-until';
import { TestMesh } from './mesh-harness';

/**
 * The distributed mesh as real processes on real Kafka, Redis and Cassandra: every test asserts
 * what was delivered and by which path (the chat servers' metrics).
 */
describe('the mesh: chat servers relaying to each other, with the Kafka fallback', { timeout: 600_000 }, () => {
  let mesh: TestMesh;
  const clients: ChatClient[] = [];
  const connect = async (user: string, server: number, deviceId = `${user}-dev`) => {
    const c = await mesh.connect(user, server, { deviceId });
    clients.push(c);
    return c;
  };
  const counter = async (server: number, key: string) => sampleValue(await mesh.metrics(mesh.chatServers[server].http), key);

  before(async () => {
    mesh = await TestMesh.start({ chatServers: 3 });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await mesh?.stop();
  });

  it('delivers a DM between users on different chat servers over the relay', async () => {
    const alice = await connect('relay-alice', 0);
    const bob = await connect('relay-bob', 1);
    const relayedBefore = await counter(0, 'chat_deliveries_total{path="relay"}');
    const ack = await alice.send(dmConversationId('relay-alice', 'relay-bob'), 'hello across servers');
    const got = await bob.waitForMessage((m) => m.messageId === ack.messageId);
    assert.equal(got.text, 'hello across servers');
    assert.equal(got.senderId, 'relay-alice');
    await waitUntil(async () => (await counter(0, 'chat_deliveries_total{path="relay"}')) === relayedBefore + 1, 5_000, 'the sender to count one relay delivery');
    assert.equal(await counter(0, 'chat_fallback_batches_total{reason="stream_down"}'), 0);
  });

  it('falls back to Kafka when the relay to a peer is cut, and goes back to the relay when it returns', async () => {
    const alice = await connect('cut-alice', 0);
    const bob = await connect('cut-bob', 2);
    const dm = dmConversationId('cut-alice', 'cut-bob');
    // Warm the stream, then partition chat-3's relay listener.
    const warm = await alice.send(dm, 'before the cut');
    await bob.waitForMessage((m) => m.messageId === warm.messageId);
    const fallbackBefore = await counter(0, 'chat_deliveries_total{path="fallback"}');
    await mesh.chatServers[2].relayProxy.cut();
    const during: string[] = [];
    for (let i = 0; i < 5; i++) during.push((await alice.send(dm, `during the cut ${i}`)).messageId);
    for (const id of during) await bob.waitForMessage((m) => m.messageId === id, 15_000);
    assert.ok((await counter(0, 'chat_deliveries_total{path="fallback"}')) >= fallbackBefore + during.length, 'the cut deliveries went through Kafka');

    await mesh.chatServers[2].relayProxy.restore();
    const relayBefore = await counter(0, 'chat_deliveries_total{path="relay"}');
    await waitUntil(
      async () => {
        const ack = await alice.send(dm, 'after the cut');
        await bob.waitForMessage((m) => m.messageId === ack.messageId, 15_000);
        return (await counter(0, 'chat_deliveries_total{path="relay"}')) > relayBefore;
      },
      30_000,
      'the relay to be used again once the peer is reachable',
    );
  });
});
