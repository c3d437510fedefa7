import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { PresenceStatus } from '../../gen/chat/v1/message';
import { RelayBatch } from '../../gen/chat/v1/relay';
import type { Connection } from '../../gen/chat/v1/session';
import { MemoryBus } from '../bus/bus-memory';
import { InboxPublisher, deliveryTopic } from '../relay/inbox-publisher';
import { waitUntil } from '../testing/wait-until';
import { MemorySessionStore } from './session-store-memory';
import { SessionTracker } from './session-tracker';

const log = pino({ level: 'silent' });
const ON = PresenceStatus.PRESENCE_STATUS_ONLINE;
const OFF = PresenceStatus.PRESENCE_STATUS_OFFLINE;
const conn = (userId: string, sessionId: string): Connection => ({ userId, deviceId: 'd', sessionId, serverId: 'srv-x', serverAddress: '' });

/**
 * A tracker on the memory store whose notices go to the delivery topics of a MemoryBus, as in the
 * mesh, and what srv-a and srv-b find on theirs.
 */
async function setup(opts: { maxPerNotice?: number } = {}) {
  const bus = new MemoryBus(log);
  const inbox = new InboxPublisher({ bus, publishTimeoutMs: 1000 });
  const clock = { now: 1_000 };
  const tracker = new SessionTracker({
    store: new MemorySessionStore(),
    send: (serverId, notice) => inbox.publish(serverId, notice),
    log,
    leaseTtlMs: 10_000,
    maxConnectionsPerUser: 5,
    sweepIntervalMs: 1_000,
    presenceWatchTtlMs: 60_000,
    locateCacheMs: 10_000,
    maxPerNotice: opts.maxPerNotice ?? 500,
    now: () => clock.now,
  });
  /** srv-x holds its connections: renewing its lease is what keeps them live. */
  const renew = () => tracker.renewServerLease('srv-x', 'run-1');
  await renew();
  const received: Record<string, RelayBatch[]> = { 'srv-a': [], 'srv-b': [] };
  for (const serverId of Object.keys(received)) {
    const sub = bus.subscribe(deliveryTopic(serverId), (r) => void received[serverId].push(RelayBatch.decode(r.payload)));
    await sub.ready;
  }
  const presences = (serverId: string) => received[serverId].flatMap((b) => b.presences.map((p) => [p.userId, p.status, p.lastSeen?.getTime()]));
  const changed = (serverId: string) => received[serverId].flatMap((b) => b.connectionsChanged);
  /** srv-b watches `fence` and it connects: once srv-b has that, it has everything told before. */
  const fenceB = async (fence: string) => {
    await tracker.addPresenceWatches('srv-b', [fence]);
    await tracker.register(conn(fence, `${fence}-1`));
    await waitUntil(() => presences('srv-b').some(([u]) => u === fence), 2000, 'the fence on srv-b');
  };
  return { tracker, clock, received, presences, changed, fenceB, renew };
}

describe('SessionTracker', () => {
  it('tells ONLINE on first connect and OFFLINE on disconnect or a lapsed server lease to the watching servers only', async () => {
    const { tracker, clock, presences, fenceB, renew } = await setup();
    await tracker.addPresenceWatches('srv-a', ['u', 'v']);
    await tracker.register(conn('u', 's1'));
    await tracker.register(conn('v', 's2'));
    await tracker.register(conn('u', 's3')); // a second device: no transition
    clock.now = 2_000;
    assert.deepEqual(await tracker.unregister('s3'), { becameOffline: false });
    assert.deepEqual(await tracker.unregister('s1'), { becameOffline: true });
    clock.now = 9_000;
    assert.deepEqual(await renew(), { lapsed: false, ttlMs: 10_000, epoch: 1 });
    clock.now = 18_999;
    await tracker.sweep();
    clock.now = 19_000;
    await tracker.sweep();
    await waitUntil(() => presences('srv-a').length === 4);
    assert.deepEqual(await renew(), { lapsed: true, ttlMs: 10_000, epoch: 2 });
    assert.deepEqual(presences('srv-a'), [
      ['u', ON, 1_000],
      ['v', ON, 1_000],
      ['u', OFF, 2_000],
      ['v', OFF, 19_000],
    ]);
    await fenceB('fence');
    assert.deepEqual(presences('srv-b'), [['fence', ON, 19_000]], 'srv-b watches neither u nor v');
  });

  it('stops telling a server once its watch lapsed, and a renewal keeps it', async () => {
    const { tracker, clock, presences, renew } = await setup();
    await tracker.addPresenceWatches('srv-a', ['u', 'v']);
    clock.now = 40_000;
    await tracker.addPresenceWatches('srv-a', ['v']);
    clock.now = 61_000; // u's watch lapsed at 61 000, v's lives until 100 000
    await renew();
    await tracker.register(conn('u', 's1'));
    await tracker.register(conn('v', 's2'));
    await waitUntil(() => presences('srv-a').length === 1);
    assert.deepEqual(presences('srv-a'), [['v', ON, 61_000]]);
  });

  it('tells a connection change only to the servers that located the user, while their entry lives', async () => {
    const { tracker, clock, received, changed, fenceB, renew } = await setup();
    await tracker.register(conn('u', 's1'));
    assert.deepEqual((await tracker.locate(['u'], 'srv-a')).map((c) => c.sessionId), ['s1']);
    await tracker.locate(['u']); // a one-off lookup: srv-b is not remembered
    await tracker.register(conn('u', 's2'));
    await waitUntil(() => changed('srv-a').length === 1);
    assert.deepEqual(received['srv-a'].map((b) => b.presences.length), [0], 'located is not watched');
    await tracker.unregister('s2'); // not the last connection: nothing to tell
    await tracker.unregister('s1');
    await waitUntil(() => changed('srv-a').length === 2);
    clock.now = 11_000; // srv-a's entry lapsed: it dropped its cached answer by now
    await renew();
    await tracker.register(conn('u', 's3'));
    await fenceB('fence');
    assert.deepEqual(changed('srv-a'), ['u', 'u']);
    assert.deepEqual(changed('srv-b'), [], 'srv-b never located anyone');
  });

  it("tells one turn's changes in one record per server, split past the notice bound in order", async () => {
    const { tracker, received, presences, changed } = await setup({ maxPerNotice: 2 });
    const users = ['u1', 'u2', 'u3'];
    await tracker.addPresenceWatches('srv-a', users);
    await tracker.locate(users, 'srv-a');
    await Promise.all(users.map((u) => tracker.register(conn(u, `${u}-s`))));
    await waitUntil(() => received['srv-a'].length === 2);
    assert.deepEqual(
      received['srv-a'].map((b) => [b.presences.map((p) => p.userId), b.connectionsChanged]),
      [
        [['u1', 'u2'], ['u1', 'u2']],
        [['u3'], ['u3']],
      ],
    );
    await Promise.all(users.map((u) => tracker.unregister(`${u}-s`)));
    await waitUntil(() => received['srv-a'].length === 4);
    assert.deepEqual(presences('srv-a').map(([u, s]) => [u, s]), [...users.map((u) => [u, ON]), ...users.map((u) => [u, OFF])]);
    assert.deepEqual(changed('srv-a'), [...users, ...users]);
  });

  it('fails the calls of a turn whose notices could not be sent', async () => {
    const store = new MemorySessionStore();
    const tracker = new SessionTracker({
      store,
      send: () => Promise.reject(new Error('bus down')),
      log,
      leaseTtlMs: 10_000,
      maxConnectionsPerUser: 5,
      sweepIntervalMs: 1_000,
      presenceWatchTtlMs: 60_000,
      locateCacheMs: 10_000,
      maxPerNotice: 500,
    });
    await tracker.renewServerLease('srv-x', 'run-1');
    await tracker.addPresenceWatches('srv-a', ['u']);
    await assert.rejects(tracker.register(conn('u', 's1')), /bus down/);
    await tracker.register(conn('nobody-watches', 's2'));
  });

  it('hands every transition to in-process listeners (WatchPresence)', async () => {
    const { tracker } = await setup();
    const seen: string[] = [];
    const stop = tracker.onPresence((p) => seen.push(`${p.userId}:${p.status === ON ? 'on' : 'off'}`));
    await tracker.register(conn('u', 's1'));
    await tracker.unregister('s1');
    stop();
    await tracker.register(conn('u', 's2'));
    assert.deepEqual(seen, ['u:on', 'u:off']);
  });
});
