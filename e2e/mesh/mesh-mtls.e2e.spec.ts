import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import type { ChatClient } from '../../internal/client/chat-client';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { grpcChannelCredentials } from '../../internal/rpc/grpc-tls';
import { sampleValue } from '../../internal/telemetry/metrics-parse';
import { healthStatus } from '../../internal/testing/health-check';
import { TestCa } from '../../internal/testing/test-certs';
import { waitUntil } from '../../internal/testing/wait-until';
import { TestMesh } from './mesh-harness';

/**
 * The mesh with mTLS on every internal gRPC hop (CHAT_GRPC_TLS_*: certificates of a throwaway
 * internal CA): chat servers to the session, group and history services, the api-server to them,
 * and chat server to chat server on the relay. Everything must work as in plaintext, and nothing
 * without a certificate of that CA gets in.
 */
describe('the mesh with mTLS between its processes', { timeout: 300_000 }, () => {
  let mesh: TestMesh;
  const ca = TestCa.create('mesh-internal-ca');
  const clients: ChatClient[] = [];

  before(async () => {
    const own = ca.issue('mesh-process');
    mesh = await TestMesh.start({ chatServers: 2, env: { CHAT_GRPC_TLS_CA_FILE: ca.ca.certFile, CHAT_GRPC_TLS_CERT_FILE: own.certFile, CHAT_GRPC_TLS_KEY_FILE: own.keyFile } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await mesh?.stop();
  });

  it('relays a DM between chat servers and stores it in history, every hop over mTLS', async () => {
    const alice = await mesh.connect('tls-alice', 0);
    const bob = await mesh.connect('tls-bob', 1);
    clients.push(alice, bob);
    const conv = dmConversationId('tls-alice', 'tls-bob');
    const ack = await alice.send(conv, 'over mutual TLS');
    assert.equal((await bob.waitForMessage((m) => m.messageId === ack.messageId)).text, 'over mutual TLS');
    const relayed = sampleValue(await mesh.metrics(mesh.chatServers[0].http), 'chat_deliveries_total{path="relay"}');
    assert.equal(relayed, 1, 'delivered over the relay stream, not the Kafka fallback');
    const api = await mesh.api('tls-bob');
    await waitUntil(async () => (await api.listMessages({ conversationId: conv })).messages.some((m) => m.messageId === ack.messageId), 30_000, 'history through the api-server and the history service');
  });

  it('refuses a gRPC client without a certificate of the internal CA', async () => {
    const address = `127.0.0.1:${mesh.chatServers[0].grpcPort}`;
    const check = (creds: ChannelCredentials) => healthStatus(address, creds);
    const peer = ca.issue('peer');
    assert.equal(await check(grpcChannelCredentials({ ca: ca.ca.cert, cert: peer.cert, key: peer.key })), 'SERVING');
    const rogue = TestCa.create('rogue-ca').issue('intruder');
    for (const creds of [credentials.createInsecure(), credentials.createSsl(ca.ca.cert), credentials.createSsl(ca.ca.cert, rogue.key, rogue.cert)]) {
      await assert.rejects(check(creds), (err: ServiceError) => err.code === status.UNAVAILABLE);
    }
  });
});
