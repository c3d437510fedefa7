import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { RelayDelivery, RelayRequest, RelayResponse } from '../../gen/chat/v1/relay';
import { MemoryBus } from '../bus/bus-memory';
import { MintedServiceToken } from '../rpc/service-token';
import { ChatMetrics } from '../telemetry/metrics';
import { freePorts } from '../testing/free-port';
import { waitUntil } from '../testing/wait-until';
import { DeliveryFallback } from './delivery-fallback';
import { RelayPeer } from './relay-peer';
import { RelayRouter } from './relay-router';
import { relayServiceImplementation } from './relay-server';
import { Device, TUNING, busy, closeReceivers, delivery, ids, lagging, log, receiver, recordingInbox, sender } from './testing/relay-fixtures';

after(closeReceivers);

describe('the relay between chat servers', () => {
  it('batches deliveries to a peer on one stream, each batch acknowledged', async () => {
    const b = await receiver('b');
    const bob = new Device('bob', 's1');
    b.registry.add(bob);
    const { router, value } = sender();
    const sent = Array.from({ length: 50 }, () => delivery('bob'));
    for (const d of sent) router.send('b', b.address, d);
    await waitUntil(() => bob.got.length === 50, 5_000, 'every delivery to arrive');
    assert.deepEqual(bob.got, ids(sent), 'in order');
    await waitUntil(async () => (await value('chat_deliveries_total{path="relay"}')) === 50, 2_000, 'acks');
    const batches = await value('chat_relay_batches_total{result="acked"}');
    assert.ok(batches >= 1 && batches < 50, `${batches} batches carried 50 deliveries`);
    await router.close();
  });

  it("hands deliveries to the peer's Kafka topic when the peer cannot be reached", async () => {
    const [closedPort] = await freePorts(1);
    const { router, value, viaFallback } = sender();
    const fb = await viaFallback('c');
    const sent = [delivery('carl'), delivery('carl')];
    for (const d of sent) router.send('c', `127.0.0.1:${closedPort}`, d);
    router.send('c', '', delivery('carl')); // a peer with no address: straight to the fallback
    await waitUntil(() => fb.arrived.length === 3, 5_000, 'the fallback to carry them');
    assert.ok((await value('chat_fallback_batches_total{reason="stream_down"}')) >= 1);
    assert.equal(await value('chat_fallback_batches_total{reason="unknown_peer"}'), 1);
    await fb.close();
    await router.close();
  });

  it('sends everything through Kafka when the relay is switched off', async () => {
    const b = await receiver('f');
    const { router, value, viaFallback } = sender({ enabled: false });
    const fb = await viaFallback('f');
    router.send('f', b.address, delivery('fred'));
    await waitUntil(() => fb.arrived.length === 1, 5_000, 'the fallback to carry it');
    assert.equal(await value('chat_fallback_batches_total{reason="relay_off"}'), 1);
    assert.equal(await value('chat_relay_batches_total{result="acked"}'), 0);
    await fb.close();
    await router.close();
  });

  it('takes a peer that acknowledges nothing for the ack timeout for dead: its unacknowledged and queued deliveries go to the fallback', async () => {
    // A peer that reads batches and never answers (stopped, or cut off behind an open socket).
    const silent = await receiver('d', lagging(() => undefined));
    const { router, value, viaFallback, tuning } = sender({ tuning: { maxInFlight: 2, maxBatch: 5 } });
    const fb = await viaFallback('d');
    const sent = Array.from({ length: 30 }, () => delivery('dan'));
    const started = Date.now();
    for (const d of sent) router.send('d', silent.address, d);
    await waitUntil(() => fb.arrived.length === sent.length, 5_000, 'every delivery to go to Kafka');
    const tookMs = Date.now() - started;
    assert.deepEqual(fb.arrived, ids(sent), 'nothing lost, in order: the two unacknowledged batches, then the queue');
    assert.ok(tookMs >= tuning.ackTimeoutMs && tookMs < tuning.ackTimeoutMs * 2.5, `failed over after ${tookMs} ms (ack timeout ${tuning.ackTimeoutMs} ms)`);
    assert.equal(await value('chat_relay_batches_total{result="failed"}'), 2, 'the window held two batches');
    assert.equal(await value('chat_fallback_batches_total{reason="ack_timeout"}'), 6, 'handed over in records of maxBatch');
    assert.equal(await value('chat_deliveries_total{path="relay"}'), 0);
    await fb.close();
    await router.close();
  });

  it("fails over at once when the peer's server goes away, nothing lost", async () => {
    const g = await receiver('k');
    const kim = new Device('kim', 's1');
    g.registry.add(kim);
    const { router, value, viaFallback, tuning } = sender();
    const fb = await viaFallback('k');
    const before = Array.from({ length: 10 }, () => delivery('kim'));
    for (const d of before) router.send('k', g.address, d);
    await waitUntil(() => kim.got.length === before.length, 5_000, 'the stream to be up');
    g.server.server.forceShutdown();
    const started = Date.now();
    const during = Array.from({ length: 10 }, () => delivery('kim'));
    for (const d of during) router.send('k', g.address, d);
    await waitUntil(() => fb.arrived.length === during.length, 5_000, 'the deliveries after the shutdown to go to Kafka');
    assert.ok(Date.now() - started < tuning.ackTimeoutMs, 'the stream error, not the ack timeout, said so');
    assert.deepEqual(fb.arrived, ids(during));
    assert.ok((await value('chat_fallback_batches_total{reason="stream_down"}')) >= 1);
    assert.equal(await value('chat_fallback_batches_total{reason="ack_timeout"}'), 0);
    await fb.close();
    await router.close();
  });

  it('keeps the stream of a busy peer: everything over the relay, in order, though its acks take several ack timeouts in all', async () => {
    const got: string[] = [];
    const peer = await receiver('e', busy(60, got));
    const { router, value, tuning } = sender({ tuning: { maxInFlight: 2, maxBatch: 25, ackTimeoutMs: 200 } });
    const sent = Array.from({ length: 300 }, () => delivery('eve'));
    const started = Date.now();
    for (const d of sent) router.send('e', peer.address, d);
    const queued = await value('chat_relay_queued_deliveries');
    assert.ok(queued >= 300 - 2 * 25, `${queued} wait in the queue, two batches at most in the stream`);
    await waitUntil(() => got.length === sent.length, 10_000, 'every delivery to arrive');
    const tookMs = Date.now() - started;
    assert.deepEqual(got, ids(sent), 'in order');
    assert.ok(tookMs >= 3 * tuning.ackTimeoutMs, `the peer took ${tookMs} ms, over three ack timeouts`);
    await waitUntil(async () => (await value('chat_deliveries_total{path="relay"}')) === sent.length, 2_000, 'the last ack');
    assert.equal(await value('chat_relay_batches_total{result="acked"}'), 12, 'full batches of 25');
    assert.equal(await value('chat_relay_batches_total{result="failed"}'), 0);
    assert.equal(await value('chat_deliveries_total{path="fallback"}'), 0);
    assert.equal(await value('chat_relay_queued_deliveries'), 0);
    await router.close();
  });

  it('coalesces the deliveries that find the window full into the next batch', async () => {
    const got: string[] = [];
    const sizes: number[] = [];
    const sent: RelayDelivery[] = [];
    const s = sender({ tuning: { maxInFlight: 1 } });
    const router = s.router;
    let address = '';
    // Every time the peer gets a batch, ten more deliveries come while it works on it.
    const peer = await receiver('h', busy(40, got, (b) => {
      sizes.push(b.deliveries.length);
      if (sizes.length > 5) return;
      for (let i = 0; i < 10; i++) {
        sent.push(delivery('hal'));
        router.send('h', address, sent[sent.length - 1]);
      }
    }));
    address = peer.address;
    sent.push(delivery('hal'));
    router.send('h', address, sent[0]);
    await waitUntil(() => got.length === 51, 5_000, 'every delivery to arrive');
    assert.deepEqual(sizes, [1, 10, 10, 10, 10, 10], 'one batch per ack, not one per flush');
    assert.deepEqual(got, ids(sent), 'in order');
    assert.equal(await s.value('chat_deliveries_total{path="fallback"}'), 0);
    await router.close();
  });

  it('sends what overflows the queue bound through the fallback, the rest over the relay', async () => {
    const got: string[] = [];
    const peer = await receiver('q', busy(30, got));
    const { router, value, viaFallback } = sender({ tuning: { maxInFlight: 1, maxBatch: 10, maxQueued: 20 } });
    const fb = await viaFallback('q');
    const warm = delivery('quin');
    router.send('q', peer.address, warm);
    await waitUntil(async () => (await value('chat_relay_batches_total{result="acked"}')) === 1, 5_000, 'the stream to be up');
    // 10 fill a batch and the window, 20 the queue; the other 70 overflow.
    const burst = Array.from({ length: 100 }, () => delivery('quin'));
    for (const d of burst) router.send('q', peer.address, d);
    await waitUntil(() => got.length === 31 && fb.arrived.length === 70, 5_000, 'the relay and the fallback to carry them');
    assert.deepEqual(got, ids([warm, ...burst.slice(0, 30)]), 'the relay carried the oldest, in order');
    assert.deepEqual(fb.arrived, ids(burst.slice(30)), 'the fallback the overflow, in order');
    assert.equal(await value('chat_fallback_batches_total{reason="queue_full"}'), 7, 'in records of maxBatch');
    assert.equal(await value('chat_relay_batches_total{result="failed"}'), 0, 'the peer was never taken for dead');
    await fb.close();
    await router.close();
  });

  it('drains the queue through the window on close, before the stream closes', async () => {
    const got: string[] = [];
    const peer = await receiver('c2', busy(20, got));
    const { router, value } = sender({ tuning: { maxInFlight: 1, maxBatch: 20 } });
    const sent = Array.from({ length: 60 }, () => delivery('cy'));
    for (const d of sent) router.send('c2', peer.address, d);
    await router.close();
    assert.deepEqual(got, ids(sent), 'every queued delivery went over the relay, in order');
    assert.equal(await value('chat_relay_batches_total{result="acked"}'), 3);
    assert.equal(await value('chat_deliveries_total{path="fallback"}'), 0);
  });

  it('writes no more while the stream holds what the peer has not read, and goes on when it reads', async () => {
    // The peer reads nothing until `open()`: grpc-js and HTTP/2 flow control hold the writes.
    let open!: () => void;
    const reading = new Promise<void>((r) => (open = r));
    let streams = 0;
    const b = await receiver('w', (opts) => {
      const real = relayServiceImplementation(opts).relay as (call: ServerDuplexStream<RelayRequest, RelayResponse>) => void;
      return {
        relay: (call: ServerDuplexStream<RelayRequest, RelayResponse>) => {
          streams++;
          void reading.then(() => real(call));
        },
      };
    });
    const wes = new Device('wes', 's1');
    b.registry.add(wes);
    const { fallback, metrics, credentials, value } = sender();
    const peer = new RelayPeer({ ...TUNING, maxBatch: 1, maxInFlight: 1_000, ackTimeoutMs: 10_000, sourceServerId: 'a', targetServerId: 'w', address: b.address, credentials, fallback, metrics, log });
    const sent = Array.from({ length: 200 }, () => delivery('wes', 'y'.repeat(32 << 10)));
    for (const d of sent) peer.send(d);
    // Past the first 16 writes grpc-js holds while it connects: the peer's unread window is full.
    await waitUntil(() => streams === 1 && peer.stats.writeBlocked && peer.stats.inFlight > 16, 5_000, 'the stream to push back');
    const held = peer.stats;
    assert.ok(held.inFlight < 200 && held.queued === 200 - held.inFlight, `${held.inFlight} written, ${held.queued} queued`);
    open();
    await waitUntil(() => wes.got.length === sent.length, 10_000, 'every delivery to arrive once the peer reads');
    assert.deepEqual(wes.got, ids(sent), 'in order');
    await waitUntil(() => peer.stats.inFlight === 0, 2_000, 'the acks');
    assert.deepEqual(peer.stats, { queued: 0, inFlight: 0, writeBlocked: false });
    assert.equal(await value('chat_deliveries_total{path="fallback"}'), 0);
    await peer.close();
  });

  it('does not blame the peer for acks its own stalled event loop has not read yet', async () => {
    let received = 0;
    const peer = await receiver('g', lagging((n) => ((received = n), 100)));
    const { router, value } = sender();
    router.send('g', peer.address, delivery('gil'));
    await waitUntil(async () => (await value('chat_relay_batches_total{result="acked"}')) === 1, 2_000, 'the stream to be up');
    router.send('g', peer.address, delivery('gil'));
    await waitUntil(() => received === 2, 2_000, 'the peer to get the second batch');
    // The ack arrives about 100 ms in, while this process is busy past the 300 ms ack timeout.
    const until = Date.now() + 600;
    while (Date.now() < until);
    await waitUntil(async () => (await value('chat_relay_batches_total{result="acked"}')) === 2, 2_000, 'the ack to be read');
    assert.equal(await value('chat_fallback_batches_total{reason="ack_timeout"}'), 0);
    await router.close();
  });

  it('fails a peer that skips a batch while acknowledging the later ones, within the ack timeout', async () => {
    // Batch 1 is never acknowledged; every later one at once, and each ack brings another delivery.
    const s = sender({ tuning: { ackTimeoutMs: 200 } });
    const router = s.router;
    let address = '';
    const more = (n: number) => {
      if (n > 1) router.send('s', address, delivery('sam'));
      return n === 1 ? undefined : 0;
    };
    const peer = await receiver('s', lagging(more));
    address = peer.address;
    const fb = await s.viaFallback('s');
    const first = delivery('sam');
    const started = Date.now();
    router.send('s', address, first);
    await waitUntil(async () => (await s.value('chat_relay_batch_messages_count')) === 1, 2_000, 'the first batch to be written');
    router.send('s', address, delivery('sam'));
    await waitUntil(() => fb.arrived.includes(first.message!.messageId), 5_000, 'the skipped batch to go to Kafka');
    const tookMs = Date.now() - started;
    assert.ok(tookMs >= 200 && tookMs < 600, `failed after ${tookMs} ms`);
    assert.ok((await s.value('chat_relay_batches_total{result="acked"}')) > 3, 'later batches were acknowledged meanwhile');
    assert.ok((await s.value('chat_fallback_batches_total{reason="ack_timeout"}')) >= 1);
    await fb.close();
    await router.close();
  });

  it('refuses a stream without a service token, and the sender falls back', async () => {
    const e = await receiver('e2');
    const eve = new Device('eve', 's2');
    e.registry.add(eve);
    const bus = new MemoryBus(log);
    const metrics = new ChatMetrics({ service: 'chat-server', instance: 'x', processMetrics: false });
    const fallback = new DeliveryFallback({ bus, metrics, log, publishTimeoutMs: 1_000 });
    const userToken = { token: () => new MintedServiceToken('another-secret-0123456789abcdefghijkl', 'intruder').token() };
    const router = new RelayRouter({ serverId: 'x', enabled: true, credentials: userToken, fallback, metrics, log, ...TUNING, maxBatch: 10 });
    const { inbox, got } = recordingInbox();
    const sub = fallback.consume('e2', inbox);
    await sub.ready;
    router.send('e2', e.address, delivery('eve'));
    await waitUntil(() => got.arrived.length === 1, 5_000, 'the refused batch to go to the fallback');
    assert.equal(eve.got.length, 0, 'nothing was pushed by an unauthenticated stream');
    await sub.close();
    await router.close();
  });
});
