import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectResponse } from '../../gen/chat/v1/gateway';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { ConnectionRegistry } from '../gateway/connection-registry';
import { ephemeralFrame } from './ephemeral-events';
import { LocalEphemeralPublisher } from './ephemeral-publisher-local';

/** A connected device that records the typing and receipt frames pushed to it. */
const device = (userId: string, sessionId: string) => {
  const got: ConnectResponse[] = [];
  return { got, conn: { userId, sessionId, pushMessage: () => undefined, pushPresence: () => undefined, pushEphemeral: (f: ConnectResponse) => void got.push(f) } };
};

describe('ephemeral events', () => {
  it('become the matching server frame, and an event of an unknown case none', () => {
    const receipt = { conversationId: 'dm:a:b', userId: 'b', kind: ReceiptKind.RECEIPT_KIND_READ, upToMessageId: '42' };
    assert.deepEqual(ephemeralFrame({ recipientIds: ['a'], excludeSessionId: '', event: { $case: 'receipt', value: receipt } }), { requestId: '', frame: { $case: 'receipt', value: receipt } });
    const typing = { conversationId: 'dm:a:b', userId: 'a' };
    assert.deepEqual(ephemeralFrame({ recipientIds: ['b'], excludeSessionId: '', event: { $case: 'typing', value: typing } }), { requestId: '', frame: { $case: 'typing', value: typing } });
    assert.equal(ephemeralFrame({ recipientIds: ['a'], excludeSessionId: '', event: undefined }), undefined);
  });

  it("reach, in one process, every device of the recipients but the one that caused them", async () => {
    const registry = new ConnectionRegistry();
    const [aPhone, aLaptop, b, c] = [device('a', 'a1'), device('a', 'a2'), device('b', 'b1'), device('c', 'c1')];
    for (const d of [aPhone, aLaptop, b, c]) registry.add(d.conn);
    const publisher = new LocalEphemeralPublisher(registry);
    const receipt = { conversationId: 'dm:a:b', userId: 'a', kind: ReceiptKind.RECEIPT_KIND_READ, upToMessageId: '7' };
    await publisher.publish('dm:a:b', { recipientIds: ['a', 'b'], excludeSessionId: 'a1', event: { $case: 'receipt', value: receipt } });
    await publisher.publish('dm:a:b', { recipientIds: ['b'], excludeSessionId: '', event: undefined });
    assert.equal(aPhone.got.length, 0, 'not echoed to the session that read');
    assert.deepEqual(aLaptop.got, [{ requestId: '', frame: { $case: 'receipt', value: receipt } }]);
    assert.deepEqual(b.got, aLaptop.got, 'the other party; the event of no known case is dropped');
    assert.equal(c.got.length, 0, 'no one else');
  });
});
