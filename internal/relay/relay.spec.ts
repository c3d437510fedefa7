import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import pino from 'pino';
import type { ConnectResponse } from '../../gen/chat/v1/gateway';
import type { ChatMessage, UserPresence } from '../../gen/chat/v1/message';
import { RelayServiceService, type RelayDelivery, type RelayRequest, type RelayResponse } from '../../gen/chat/v1/relay';
import { TokenVerifier } from '../auth/token-verifier';
import { MemoryBus } from '../bus/bus-memory';
import { ConnectionRegistry, type RegisteredConnection } from '../gateway/connection-registry';
import { startGrpcServer, type RunningGrpcServer } from '../rpc/grpc-server';
import { MintedServiceToken } from '../rpc/service-token';
import { ChatMetrics } from '../telemetry/metrics';
import { parseMetrics, sampleValue } from '../telemetry/metrics-parse';
import { freePorts } from '../testing/free-port';
import { waitUntil } from '../testing/wait-until';
import { DeliveryFallback } from './delivery-fallback';
import { RelayRouter } from './relay-router';
import { relayServiceImplementation } from './relay-server';

const SECRET = 'relay-spec-secret-0123456789abcdefghij';
const log = pino({ level: 'silent' });
const servers: RunningGrpcServer[] = [];
after(async () => Promise.all(servers.map((s) => s.close())));

/** A device that records what it is pushed. */
class Device implements RegisteredConnection {
  readonly got: string[] = [];
  constructor(
    readonly userId: string,
    readonly sessionId: string,
  ) {}
  pushMessage(m: ChatMessage): void {
    this.got.push(m.messageId);
  }
  pushPresence(_p: UserPresence): void {}
  pushEphemeral(_f: ConnectResponse): void {}
}

let id = 1000;
const delivery = (to: string): RelayDelivery => ({
  message: { messageId: String(++id), conversationId: 'dm:a:b', senderId: 'a', clientMsgId: `c${id}`, text: 'x', createdAt: new Date() },
  recipientUserIds: [to],
  excludeSessionId: '',
  traceContext: {},
});

function sender(bus = new MemoryBus(log), enabled = true, ackTimeoutMs = 300) {
  const metrics = new ChatMetrics({ service: 'chat-server', instance: 'a', processMetrics: false });
  const fallback = new DeliveryFallback({ bus, metrics, log, publishTimeoutMs: 1_000 });
  const router = new RelayRouter({ serverId: 'a', enabled, credentials: new MintedServiceToken(SECRET, 'chat-server-a'), fallback, metrics, log, flushMs: 5, maxBatch: 256, ackTimeoutMs, retryBackoffMs: 100 });
  const value = async (key: string) => sampleValue(parseMetrics(await metrics.text()), key);
  return { bus, router, fallback, value };
}

async function receiver(serverId: string, implementation = relayServiceImplementation) {
  const registry = new ConnectionRegistry();
  const verifier = await TokenVerifier.create({ algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 5 });
  const metrics = new ChatMetrics({ service: 'chat-server', instance: serverId, processMetrics: false });
  const server = await startGrpcServer({ host: '127.0.0.1', port: 0, maxMessageBytes: 4 << 20, services: [{ definition: RelayServiceService, name: 'chat.v1.RelayService', implementation: implementation({ serverId, verifier, registry, metrics, log }) }] });
  servers.push(server);
  return { registry, address: `127.0.0.1:${server.port}` };
}

describe('the relay between chat servers', () => {
  it('batches deliveries to a peer on one stream, each batch acknowledged', async () => {
    const b = await receiver('b');
    const bob = new Device('bob', 's1');
    b.registry.add(bob);
    const { router, value } = sender();
    const sent = Array.from({ length: 50 }, () => delivery('bob'));
    for (const d of sent) router.send('b', b.address, d);
    await waitUntil(() => bob.got.length === 50, 5_000, 'every delivery to arrive');
    assert.deepEqual(bob.got, sent.map((d) => d.message!.messageId), 'in order');
    await waitUntil(async () => (await value('chat_deliveries_total{path="relay"}')) === 50, 2_000, 'acks');
    const batches = await value('chat_relay_batches_total{result="acked"}');
    assert.ok(batches >= 1 && batches < 50, `${batches} batches carried 50 deliveries`);
    await router.close();
  });

  it("hands deliveries to the peer's Kafka topic when the peer cannot be reached", async () => {
    const [closedPort] = await freePorts(1);
    const { router, fallback, value } = sender();
    const arrived: string[] = [];
    const sub = fallback.consume('c', (d) => arrived.push(d.message!.messageId));
    await sub.ready;
    const sent = [delivery('carl'), delivery('carl')];
    for (const d of sent) router.send('c', `127.0.0.1:${closedPort}`, d);
    router.send('c', '', delivery('carl')); // a peer with no address: straight to the fallback
    await waitUntil(() => arrived.length === 3, 5_000, 'the fallback to carry them');
    assert.ok((await value('chat_fallback_batches_total{reason="stream_down"}')) >= 1);
    assert.equal(await value('chat_fallback_batches_total{reason="unknown_peer"}'), 1);
    await sub.close();
    await router.close();
  });

  it('sends everything through Kafka when the relay is switched off', async () => {
    const b = await receiver('f');
    const { router, fallback, value } = sender(new MemoryBus(log), false);
    const arrived: string[] = [];
    const sub = fallback.consume('f', (d) => arrived.push(d.message!.messageId));
    await sub.ready;
    router.send('f', b.address, delivery('fred'));
    await waitUntil(() => arrived.length === 1, 5_000, 'the fallback to carry it');
    assert.equal(await value('chat_fallback_batches_total{reason="relay_off"}'), 1);
    assert.equal(await value('chat_relay_batches_total{result="acked"}'), 0);
    await sub.close();
    await router.close();
  });

  it('falls back when a batch is not acknowledged in time', async () => {
    // A peer that reads batches and never answers.
    const silent = await receiver('d', () => ({ relay: (call: ServerDuplexStream<RelayRequest, RelayResponse>) => call.on('data', () => undefined) }));
    const { router, fallback, value } = sender();
    const arrived: string[] = [];
    const sub = fallback.consume('d', (d) => arrived.push(d.message!.messageId));
    await sub.ready;
    router.send('d', silent.address, delivery('dan'));
    await waitUntil(() => arrived.length === 1, 5_000, 'the unacknowledged batch to go to Kafka');
    assert.equal(await value('chat_fallback_batches_total{reason="ack_timeout"}'), 1);
    assert.equal(await value('chat_relay_batches_total{result="failed"}'), 1);
    await sub.close();
    await router.close();
  });

  /** A peer that acknowledges batch n (counted from 1) after `delayMs(n)`, or never when that is undefined. */
  const lagging = (delayMs: (n: number) => number | undefined) => () => ({
    relay: (call: ServerDuplexStream<RelayRequest, RelayResponse>) => {
      let n = 0;
      call.on('data', (req: RelayRequest) => {
        if (req.frame?.$case !== 'batch') return;
        const batchId = req.frame.value.batchId;
        const delay = delayMs(++n);
        if (delay !== undefined) setTimeout(() => call.write({ batchId }), delay);
      });
    },
  });

  it('keeps the stream of a peer that is behind but acknowledging', async () => {
    // Acks fall behind by up to 600 ms, twice the ack timeout, but one arrives every few tens of ms.
    const peer = await receiver('e', lagging((n) => Math.min(n * 30, 600)));
    const { router, value } = sender();
    for (let i = 0; i < 60; i++) {
      router.send('e', peer.address, delivery('eve'));
      await new Promise((r) => setTimeout(r, 10));
    }
    const sent = await value('chat_relay_batch_messages_count');
    await waitUntil(async () => (await value('chat_relay_batches_total{result="acked"}')) + (await value('chat_relay_batches_total{result="failed"}')) === sent, 5_000, 'every batch to be acknowledged or failed');
    assert.ok(sent > 20, `${sent} batches`);
    assert.equal(await value('chat_fallback_batches_total{reason="ack_timeout"}'), 0);
    assert.equal(await value('chat_relay_batches_total{result="failed"}'), 0);
    await router.close();
  });

  it("does not blame the peer for acks its own stalled event loop has not read yet", async () => {
    const peer = await receiver('g', lagging(() => 100));
    const { router, value } = sender();
    router.send('g', peer.address, delivery('gil'));
    await waitUntil(async () => (await value('chat_relay_batches_total{result="acked"}')) === 1, 2_000, 'the stream to be up');
    router.send('g', peer.address, delivery('gil'));
    // The ack arrives about 100 ms in, while this process is busy past the 300 ms ack timeout.
    await new Promise((r) => setTimeout(r, 50));
    const until = Date.now() + 600;
    while (Date.now() < until);
    await waitUntil(async () => (await value('chat_relay_batches_total{result="acked"}')) === 2, 2_000, 'the ack to be read');
    assert.equal(await value('chat_fallback_batches_total{reason="ack_timeout"}'), 0);
    await router.close();
  });

  it('falls back when one batch waits ten ack timeouts while the peer acknowledges others', async () => {
    const peer = await receiver('f', lagging((n) => (n === 1 ? undefined : 0)));
    const { router, fallback, value } = sender(new MemoryBus(log), true, 100);
    const arrived: string[] = [];
    const sub = fallback.consume('f', (d) => arrived.push(d.message!.messageId));
    await sub.ready;
    const started = Date.now();
    const first = delivery('fay');
    router.send('f', peer.address, first);
    const ticker = setInterval(() => router.send('f', peer.address, delivery('fay')), 20);
    await waitUntil(() => arrived.includes(first.message!.messageId), 5_000, 'the stuck batch to go to Kafka');
    clearInterval(ticker);
    const waited = Date.now() - started;
    assert.ok(waited >= 1_000, `failed after ${waited} ms, before ten ack timeouts`);
    assert.ok((await value('chat_relay_batches_total{result="acked"}')) > 20, 'the other batches were acknowledged meanwhile');
    assert.ok((await value('chat_fallback_batches_total{reason="ack_timeout"}')) >= 1);
    await sub.close();
    await router.close();
  });

  it('refuses a stream without a service token, and the sender falls back', async () => {
    const e = await receiver('e');
    const eve = new Device('eve', 's2');
    e.registry.add(eve);
    const bus = new MemoryBus(log);
    const metrics = new ChatMetrics({ service: 'chat-server', instance: 'x', processMetrics: false });
    const fallback = new DeliveryFallback({ bus, metrics, log, publishTimeoutMs: 1_000 });
    const userToken = { token: () => new MintedServiceToken('another-secret-0123456789abcdefghijkl', 'intruder').token() };
    const router = new RelayRouter({ serverId: 'x', enabled: true, credentials: userToken, fallback, metrics, log, flushMs: 5, maxBatch: 10, ackTimeoutMs: 300, retryBackoffMs: 100 });
    const arrived: string[] = [];
    const sub = fallback.consume('e', (d) => arrived.push(d.message!.messageId));
    await sub.ready;
    router.send('e', e.address, delivery('eve'));
    await waitUntil(() => arrived.length === 1, 5_000, 'the refused batch to go to the fallback');
    assert.equal(eve.got.length, 0, 'nothing was pushed by an unauthenticated stream');
    await sub.close();
    await router.close();
  });
});
