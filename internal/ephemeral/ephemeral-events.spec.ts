import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ReceiptKind } from '../../gen/chat/v1/message';
import type { BusRecord } from '../bus/bus';
import { MemoryBus } from '../bus/bus-memory';
import { waitUntil } from '../testing/wait-until';
import { EPHEMERAL_TOPIC, decodeEphemeral, ephemeralFrame, publishEphemeral } from './ephemeral-events';

describe('ephemeral events on the bus', () => {
  it('travel as protobuf keyed by conversation and become the matching server frame', async () => {
    const bus = new MemoryBus(pino({ level: 'silent' }));
    const seen: BusRecord[] = [];
    const sub = bus.subscribe(EPHEMERAL_TOPIC, (r) => void seen.push(r));
    await sub.ready;
    const receipt = { conversationId: 'dm:a:b', userId: 'b', kind: ReceiptKind.RECEIPT_KIND_READ, upToMessageId: '42' };
    await publishEphemeral(bus, 'dm:a:b', { recipientIds: ['a', 'b'], excludeSessionId: 's1', event: { $case: 'receipt', value: receipt } });
    await publishEphemeral(bus, 'dm:a:b', { recipientIds: [], excludeSessionId: '', event: { $case: 'typing', value: { conversationId: 'dm:a:b', userId: 'a' } } });
    await waitUntil(() => seen.length === 1, 2000, 'the record');
    assert.equal(seen[0].key, 'dm:a:b');
    const event = decodeEphemeral(seen[0].payload);
    assert.deepEqual(event.recipientIds, ['a', 'b']);
    assert.deepEqual(ephemeralFrame(event), { requestId: '', frame: { $case: 'receipt', value: receipt } });
    assert.equal(ephemeralFrame({ recipientIds: ['a'], excludeSessionId: '', event: undefined }), undefined, 'an event of an unknown case is dropped');
    await bus.close();
  });
});
