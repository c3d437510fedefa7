import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PresenceStatus, type UserPresence } from '../../gen/chat/v1/message';
import { MemoryBus } from '../bus/bus-memory';
import { ChatMetrics } from '../telemetry/metrics';
import { waitUntil } from '../testing/wait-until';
import { DeliveryFallback } from './delivery-fallback';
import { InboxPublisher } from './inbox-publisher';
import type { RelayItem } from './relay-item';
import { Device, busy, byKind, closeReceivers, delivery, lagging, log, receiver, recordingInbox, sender, typers, typing } from './testing/relay-fixtures';

after(closeReceivers);

describe('typing and receipts between chat servers', () => {
  it('carries typing and receipts on the stream with the messages: same batches, same window', async () => {
    const t = await receiver('t');
    const [phone, laptop, other] = [new Device('tom', 't1'), new Device('tom', 't2'), new Device('tia', 't3')];
    for (const d of [phone, laptop, other]) t.registry.add(d);
    const { router, value } = sender({ tuning: { maxBatch: 10 } });
    // Two deliveries, then an event typed on tom's laptop, ten times over.
    const sent: RelayItem[] = Array.from({ length: 30 }, (_, i) => (i % 3 === 2 ? typing(['tom'], 't2') : delivery('tom')));
    for (const item of sent) router.send('t', t.address, item);
    const { messages, typers: typed } = byKind(sent);
    await waitUntil(() => phone.got.length === 20 && phone.typing.length === 10, 5_000, 'everything to arrive');
    assert.deepEqual(phone.got, messages, 'messages in order');
    assert.deepEqual(phone.typing, typed, 'events in order');
    assert.deepEqual(laptop.typing, [], 'not echoed to the session that typed');
    assert.deepEqual(laptop.got, messages);
    assert.deepEqual(other.typing, [], 'nobody else');
    await waitUntil(async () => (await value('chat_deliveries_total{path="relay"}')) === 20, 2_000, 'the acks');
    assert.equal(await value('chat_relay_batches_total{result="acked"}'), 3, 'an event counts like a delivery: three batches of ten');
    assert.equal(await value('chat_deliveries_total{path="fallback"}'), 0);
    await router.close();
  });

  it("hands a dead peer's unacknowledged and queued events to its delivery topic with its deliveries, each kind in order", async () => {
    const silent = await receiver('v', lagging(() => undefined));
    const { router, value, viaFallback } = sender({ tuning: { maxInFlight: 2, maxBatch: 5 } });
    const fb = await viaFallback('v');
    const sent: RelayItem[] = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? delivery('val') : typing(['val'])));
    for (const item of sent) router.send('v', silent.address, item);
    const { messages, typers: typed } = byKind(sent);
    await waitUntil(() => fb.arrived.length === 15 && fb.typers.length === 15, 5_000, 'everything to go to Kafka');
    assert.deepEqual(fb.arrived, messages);
    assert.deepEqual(fb.typers, typed, "the receiver's inbox got every event, in order");
    assert.equal(await value('chat_fallback_batches_total{reason="ack_timeout"}'), 6, 'in records of maxBatch items');
    assert.equal(await value('chat_deliveries_total{path="fallback"}'), 15, 'one per message recipient; events are not messages');
    await fb.close();
    await router.close();
  });

  it('bounds the queue in items: events that find it full overflow to the fallback like deliveries', async () => {
    const got: string[] = [];
    const relayed: string[] = [];
    const peer = await receiver('o', busy(30, got, (b) => relayed.push(...typers(b.events))));
    const { router, value, viaFallback } = sender({ tuning: { maxInFlight: 1, maxBatch: 10, maxQueued: 20 } });
    const fb = await viaFallback('o');
    const warm = delivery('olu');
    router.send('o', peer.address, warm);
    await waitUntil(async () => (await value('chat_relay_batches_total{result="acked"}')) === 1, 5_000, 'the stream to be up');
    // 10 fill a batch and the window, 20 the queue; the other 70 overflow, events as much as deliveries.
    const burst: RelayItem[] = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? delivery('olu') : typing(['olu'])));
    for (const item of burst) router.send('o', peer.address, item);
    const kept = byKind(burst.slice(0, 30));
    const spilled = byKind(burst.slice(30));
    await waitUntil(() => got.length === 16 && relayed.length === 15 && fb.arrived.length === 35 && fb.typers.length === 35, 5_000, 'the relay and the fallback to carry them');
    assert.deepEqual(got, [warm.message!.messageId, ...kept.messages]);
    assert.deepEqual(relayed, kept.typers);
    assert.deepEqual(fb.arrived, spilled.messages);
    assert.deepEqual(fb.typers, spilled.typers);
    assert.equal(await value('chat_fallback_batches_total{reason="queue_full"}'), 7);
    await fb.close();
    await router.close();
  });

  it("publishes the session service's presences and location changes to a server's delivery topic, and its inbox gets every part", async () => {
    const bus = new MemoryBus(log);
    const metrics = new ChatMetrics({ service: 'chat-server', instance: 'p', processMetrics: false });
    const { inbox, got } = recordingInbox();
    const sub = new DeliveryFallback({ bus, metrics, log, publishTimeoutMs: 1_000 }).consume('p', inbox);
    await sub.ready;
    const publisher = new InboxPublisher({ bus, publishTimeoutMs: 1_000 });
    const presence: UserPresence = { userId: 'pia', status: PresenceStatus.PRESENCE_STATUS_ONLINE, lastSeen: new Date(1_700_000_000_000) };
    await publisher.publish('p', {});
    await publisher.publish('q', { connectionsChanged: ['nobody-here'] });
    await publisher.publish('p', { presences: [presence], connectionsChanged: ['pia', 'pat'] });
    await publisher.publish('p', { deliveries: [delivery('pia')], events: [typing(['pia'])] });
    await waitUntil(() => got.arrived.length === 1, 2_000, 'the last record');
    assert.deepEqual(got.presences, [presence]);
    assert.deepEqual(got.connectionsChanged, ['pia', 'pat'], "another server's record is not this one's");
    assert.equal(got.typers.length, 1);
    assert.equal(got.calls, 4, 'an empty record is not published; each part of a record is one call');
    await sub.close();
    await bus.close();
  });
});
