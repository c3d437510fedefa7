import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { EphemeralEvent } from '../../gen/chat/v1/ephemeral';
import type { Connection } from '../../gen/chat/v1/session';
import { ConnectionRegistry } from '../gateway/connection-registry';
import { LocateCache } from '../relay/locate-cache';
import { Device, closeReceivers, receiver, sender, typers } from '../relay/testing/relay-fixtures';
import { MemorySessionStore } from '../session/session-store-memory';
import type { Sessions } from '../session/sessions';
import { waitUntil } from '../testing/wait-until';
import { MeshEphemeralPublisher } from './ephemeral-publisher-mesh';

after(closeReceivers);

const TTL_MS = 60_000;
let n = 0;
/** A typing event in `conversationId`, typed by a user of its own so that the order of arrival shows. */
const typing = (conversationId: string, to: string[], excludeSessionId = ''): EphemeralEvent => ({
  recipientIds: to,
  excludeSessionId,
  event: { $case: 'typing', value: { conversationId, userId: `typer${++n}` } },
});

/**
 * Chat server 'a' (the publisher: its registry, its relay router, a LocateCache over the memory
 * session store) and chat server 'b' (a real relay receiver). `lookups` stands where the session
 * service's answers pass, so a test can hold or fail one.
 */
async function mesh(lookups: (locate: () => Promise<Connection[]>, call: number) => Promise<Connection[]> = (locate) => locate()) {
  const store = new MemorySessionStore();
  let calls = 0;
  const sessions: Pick<Sessions, 'locate'> = { locate: (userIds) => lookups(() => store.locate(userIds, Date.now()), ++calls) };
  const locations = new LocateCache(sessions, { serverId: 'a', ttlMs: TTL_MS, maxUsers: 100 });
  const a = new ConnectionRegistry();
  const b = await receiver('b');
  const s = sender();
  const publisher = new MeshEphemeralPublisher({ serverId: 'a', registry: a, locations, router: s.router });
  /** A device of `userId` connected to server `serverId` (`address` '' for one the relay cannot reach). */
  const connect = async (userId: string, sessionId: string, serverId: string, address = serverId === 'b' ? b.address : '') => {
    await store.renewServer(serverId, 'run-1', Date.now(), TTL_MS);
    await store.register({ userId, deviceId: sessionId, sessionId, serverId, serverAddress: address }, Date.now(), 10);
    const device = new Device(userId, sessionId);
    if (serverId === 'a') a.add(device);
    if (serverId === 'b') b.registry.add(device);
    return device;
  };
  return { publisher, connect, b, ...s };
}

describe('MeshEphemeralPublisher', () => {
  it('pushes to its own connections at once, and sends each other server holding recipients one event naming only its users', async () => {
    const { publisher, connect, b, router, value, viaFallback } = await mesh();
    const annPhone = await connect('ann', 'a1', 'a');
    const annLaptop = await connect('ann', 'a2', 'a');
    const [bob, cat] = [await connect('bob', 'b1', 'b'), await connect('cat', 'b2', 'b')];
    await connect('dan', 'c1', 'c'); // on a server with no relay address: the delivery topic
    const annOnB = new Device('ann', 'stale'); // b pushes to whoever its event names
    b.registry.add(annOnB);
    const fb = await viaFallback('c');

    const event = typing('g:1', ['ann', 'bob', 'cat', 'dan', 'eve'], 'a1');
    const published = publisher.publish('g:1', event);
    assert.deepEqual(annLaptop.typing, typers([event]), 'own connections before publish returns');
    assert.deepEqual(annPhone.typing, [], 'not echoed to the session that typed');
    await published;

    await waitUntil(() => bob.typing.length === 1 && cat.typing.length === 1 && fb.events.length === 1, 5_000, 'the other servers to get it');
    assert.deepEqual(annOnB.typing, [], "b's event names b's users only");
    assert.deepEqual(fb.events[0].recipientIds, ['dan'], "and the delivery topic's dan only");
    await waitUntil(async () => (await value('chat_relay_batches_total{result="acked"}')) === 1, 2_000, 'the ack');
    assert.equal(await value('chat_relay_batch_messages_sum'), 1, 'one event for both users on b');
    assert.equal(await value('chat_fallback_batches_total{reason="unknown_peer"}'), 1);
    await publisher.publish('g:1', typing('g:1', []));
    assert.deepEqual(annPhone.typing, [], 'an event for no one goes nowhere');
    await fb.close();
    await router.close();
  });

  it('hands the events of one conversation over in publish order though a later lookup answers first; other conversations do not wait', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // The first lookup waits; every later one answers at once.
    const { publisher, connect, router } = await mesh(async (locate, call) => {
      if (call === 1) await held;
      return locate();
    });
    const dan = await connect('dan', 'b1', 'b');
    const first = typing('dm:ann:dan', ['dan']);
    const second = typing('dm:ann:dan', ['dan']);
    const elsewhere = typing('dm:dan:eve', ['dan']);
    const published = [publisher.publish('dm:ann:dan', first), publisher.publish('dm:ann:dan', second), publisher.publish('dm:dan:eve', elsewhere)];
    await waitUntil(() => dan.typing.length === 1, 5_000, 'the other conversation to get through');
    assert.deepEqual(dan.typing, typers([elsewhere]));
    release();
    await Promise.all(published);
    await waitUntil(() => dan.typing.length === 3, 5_000, 'the held conversation to follow');
    assert.deepEqual(dan.typing, typers([elsewhere, first, second]));
    assert.equal(publisher.waiting, 0, 'nothing left waiting');
    await router.close();
  });

  it('rejects when the recipients cannot be located, after its own connections got the event; the next publish goes on', async () => {
    const { publisher, connect, router } = await mesh((locate, call) => (call === 1 ? Promise.reject(new Error('session service unavailable')) : locate()));
    const ann = await connect('ann', 'a1', 'a');
    const bob = await connect('bob', 'b1', 'b');
    const lost = typing('dm:ann:bob', ['ann', 'bob']);
    await assert.rejects(publisher.publish('dm:ann:bob', lost), /session service unavailable/);
    assert.deepEqual(ann.typing, typers([lost]));
    const next = typing('dm:ann:bob', ['ann', 'bob']);
    await publisher.publish('dm:ann:bob', next);
    await waitUntil(() => bob.typing.length === 1, 5_000, 'the next event');
    assert.deepEqual(bob.typing, typers([next]));
    assert.equal(publisher.waiting, 0);
    await router.close();
  });
});
