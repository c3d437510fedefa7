import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PresenceStatus, type UserPresence } from '../../gen/chat/v1/message';
import type { RelayBatch } from '../../gen/chat/v1/relay';
import { MemoryBus } from '../bus/bus-memory';
import { ChatMetrics } from '../telemetry/metrics';
import { parseMetrics } from '../telemetry/metrics-parse';
import { waitUntil } from '../testing/wait-until';
import { DeliveryFallback } from './delivery-fallback';
import { InboxPublisher } from './inbox-publisher';
import { dispatchBatch, type InboxItemCounter, type ServerInbox } from './server-inbox';
import { delivery, log, recordingInbox, typing } from './testing/relay-fixtures';

const presence = (userId: string): UserPresence => ({ userId, status: PresenceStatus.PRESENCE_STATUS_ONLINE, lastSeen: new Date(1_700_000_000_000) });
const batch = (b: Partial<RelayBatch>): RelayBatch => ({ batchId: '1', deliveries: [], events: [], presences: [], connectionsChanged: [], ...b });

/** `inbox` counted into a fresh ChatMetrics; `items(kind, path)` reads chat_inbox_items_total. */
function counted(inbox: ServerInbox) {
  const metrics = new ChatMetrics({ service: 'chat-server', instance: 's', processMetrics: false });
  const items = async (kind: string, path: string) => parseMetrics(await metrics.text()).get(`chat_inbox_items_total{kind="${kind}",path="${path}"}`);
  return { inbox: { ...inbox, counter: metrics.inboxItems }, items };
}

describe('dispatchBatch counts what it hands the inbox', () => {
  it('adds each part by its item count under its kind and the path the batch came', async () => {
    const { inbox: raw, got } = recordingInbox();
    const { inbox, items } = counted(raw);
    // A delivery to two recipients is one item: the count is of what the server is handed, not of pushes.
    const twoRecipients = { ...delivery('ann'), recipientUserIds: ['ann', 'abe'] };
    dispatchBatch(inbox, batch({ deliveries: [delivery('ann'), twoRecipients, delivery('abe')], events: [typing(['ann'])] }), 'relay');
    dispatchBatch(inbox, batch({ presences: [presence('pia'), presence('pat')], connectionsChanged: ['pia', 'pat', 'pam'] }), 'fallback');
    dispatchBatch(inbox, batch({ deliveries: [delivery('ann')], events: [typing(['ann']), typing(['abe'])] }), 'fallback');
    assert.equal(await items('delivery', 'relay'), 3);
    assert.equal(await items('event', 'relay'), 1);
    assert.equal(await items('delivery', 'fallback'), 1);
    assert.equal(await items('event', 'fallback'), 2);
    assert.equal(await items('presence', 'fallback'), 2);
    assert.equal(await items('connections_changed', 'fallback'), 3);
    for (const kind of ['presence', 'connections_changed']) assert.equal(await items(kind, 'relay'), 0, `${kind} over the relay: present at zero`);
    assert.equal(got.arrived.length, 4, 'and the inbox got every delivery');
  });

  it('increments once per kind present in a batch, never for an empty part', () => {
    const calls: [string, string, number][] = [];
    const counter: InboxItemCounter = { inc: (l, n) => void calls.push([l.kind, l.path, n]) };
    const { inbox } = recordingInbox();
    dispatchBatch({ ...inbox, counter }, batch({ deliveries: Array.from({ length: 50 }, () => delivery('bo')), connectionsChanged: ['bo'] }), 'relay');
    dispatchBatch({ ...inbox, counter }, batch({}), 'fallback');
    assert.deepEqual(calls, [
      ['connections_changed', 'relay', 1],
      ['delivery', 'relay', 50],
    ]);
  });

  it('hands over the same with no counter (an inbox that is not counted)', () => {
    const { inbox, got } = recordingInbox();
    dispatchBatch(inbox, batch({ deliveries: [delivery('cy')], presences: [presence('cy')] }), 'relay');
    assert.equal(got.arrived.length, 1);
    assert.equal(got.presences.length, 1);
  });

  it("counts a server's delivery topic under path fallback when its consumer feeds a counted inbox", async () => {
    const bus = new MemoryBus(log);
    const { inbox: raw, got } = recordingInbox();
    const { inbox, items } = counted(raw);
    const sub = new DeliveryFallback({ bus, metrics: new ChatMetrics({ service: 'chat-server', instance: 'x', processMetrics: false }), log, publishTimeoutMs: 1_000 }).consume('d', inbox);
    await sub.ready;
    const publisher = new InboxPublisher({ bus, publishTimeoutMs: 1_000 });
    await publisher.publish('d', { presences: [presence('dee')], connectionsChanged: ['dee', 'don'] });
    await publisher.publish('d', { deliveries: [delivery('dee')], events: [typing(['dee'])] });
    await waitUntil(() => got.arrived.length === 1, 2_000, 'both records');
    assert.equal(await items('presence', 'fallback'), 1);
    assert.equal(await items('connections_changed', 'fallback'), 2);
    assert.equal(await items('delivery', 'fallback'), 1);
    assert.equal(await items('event', 'fallback'), 1);
    assert.equal(await items('delivery', 'relay'), 0);
    await sub.close();
    await bus.close();
  });
});
