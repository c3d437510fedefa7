import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { PresenceEvent } from '../../gen/chat/v1/gateway';
import { PresenceStatus } from '../../gen/chat/v1/message';
import type { ChatClient } from '../../internal/client/chat-client';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
import { TestChatd } from './testing/chatd-harness';

const ONLINE = PresenceStatus.PRESENCE_STATUS_ONLINE;
const OFFLINE = PresenceStatus.PRESENCE_STATUS_OFFLINE;

/** Every presence event a client receives, with the local time it arrived. */
class PresenceLog {
  private readonly events: { event: PresenceEvent; at: number }[] = [];

  constructor(client: ChatClient) {
    client.on('presence', (event) => this.events.push({ event, at: Date.now() }));
  }

  /**
   * The changes seen for `userId`: presence is state, so a repeat of the current status (a change
   * published before the watch began, arriving after the snapshot; Kafka is slower than the
   * snapshot read) is not a new event for the client and is folded here.
   */
  of(userId: string): { event: PresenceEvent; at: number }[] {
    const out: { event: PresenceEvent; at: number }[] = [];
    for (const e of this.events) {
      if (e.event.userId === userId && out.at(-1)?.event.status !== e.event.status) out.push(e);
    }
    return out;
  }

  statuses(userId: string): PresenceStatus[] {
    return this.of(userId).map((e) => e.event.status);
  }

  /** Waits for the `index`-th (0-based) event about `userId`. */
  async nth(userId: string, index: number, timeoutMs = 5000): Promise<{ event: PresenceEvent; at: number }> {
    await waitUntil(() => this.of(userId).length > index, timeoutMs, `presence event #${index} of ${userId}`);
    return this.of(userId)[index];
  }
}

/**
 * The watcher already shares a conversation with `peer`, who has never connected: the current
 * state (OFFLINE, never seen), ONLINE when the peer connects, OFFLINE with last_seen when it leaves.
 */
async function watchOfflineOnlineOffline(chatd: TestChatd, watcher: ChatClient, peer: string): Promise<void> {
  const log = new PresenceLog(watcher);
  await watcher.subscribePresence([peer]);
  const [initial] = log.of(peer);
  assert.ok(initial, 'the current state arrives before subscribePresence resolves');
  assert.equal(initial.event.status, OFFLINE);
  assert.equal(initial.event.lastSeen, undefined, 'a user never seen has no last_seen');

  const p = await chatd.connect(peer);
  const online = await log.nth(peer, 1);
  assert.equal(online.event.status, ONLINE);

  const closing = Date.now();
  await p.close();
  const offline = await log.nth(peer, 2);
  assert.equal(offline.event.status, OFFLINE);
  const lastSeen = offline.event.lastSeen?.getTime();
  assert.ok(lastSeen !== undefined, 'OFFLINE carries last_seen');
  assert.ok(lastSeen >= closing && lastSeen <= offline.at, `last_seen ${lastSeen} within [${closing}, ${offline.at}]`);
  // The default TTL is 10 s: an OFFLINE this quick comes from the disconnect, not from a lapse.
  assert.ok(offline.at - closing < 2000, `OFFLINE ${offline.at - closing} ms after the disconnect`);
  assert.deepEqual(log.statuses(peer), [OFFLINE, ONLINE, OFFLINE]);
}

describe('chatd presence', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ maxPresenceSubscriptions: '2' })));
  after(async () => chatd.stop());

  it('shows a DM peer going online and offline', async () => {
    const w = await chatd.connect('pdm-watcher');
    await w.send(dmConversationId('pdm-watcher', 'pdm-peer'), 'hello');
    await watchOfflineOnlineOffline(chatd, w, 'pdm-peer');
    await w.close();
  });

  it('shows a group co-member going online and offline', async () => {
    const api = await chatd.api('pgr-watcher');
    await api.createGroup('presence group', ['pgr-peer']);
    const w = await chatd.connect('pgr-watcher');
    await watchOfflineOnlineOffline(chatd, w, 'pgr-peer');
    await w.close();
  });

  it('refuses users who share no conversation, naming them, and watches the others', async () => {
    const w = await chatd.connect('pden-watcher');
    const stranger = await chatd.connect('pden-stranger');
    const log = new PresenceLog(w);

    await assert.rejects(w.subscribePresence(['pden-stranger']), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERROR_CODE_PERMISSION_DENIED');
      assert.match(err.message, /pden-stranger/);
      return true;
    });
    // A DM conversation id alone is not a shared conversation: it takes a message.
    await assert.rejects(w.subscribePresence(['pden-dm']), { code: 'ERROR_CODE_PERMISSION_DENIED' });
    await w.send(dmConversationId('pden-watcher', 'pden-dm'), 'now we talk');

    // Mixed: the visible user is watched and reported, the other named in the error.
    await assert.rejects(w.subscribePresence(['pden-dm', 'pden-stranger']), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERROR_CODE_PERMISSION_DENIED');
      assert.match(err.message, /pden-stranger/);
      assert.doesNotMatch(err.message, /pden-dm/);
      return true;
    });
    assert.deepEqual(log.statuses('pden-dm'), [OFFLINE]);

    // Changes of the refused user never arrive; those of the watched one do.
    await stranger.close();
    const again = await chatd.connect('pden-stranger');
    const dm = await chatd.connect('pden-dm');
    await log.nth('pden-dm', 1);
    await w.heartbeat();
    assert.deepEqual(log.of('pden-stranger'), []);
    assert.deepEqual(log.statuses('pden-dm'), [OFFLINE, ONLINE]);
    await Promise.all([w.close(), again.close(), dm.close()]);
  });

  it('limits the users one connection watches', async () => {
    const api = await chatd.api('plim-watcher');
    await api.createGroup('many', ['plim-a', 'plim-b', 'plim-c']);
    const w1 = await chatd.connect('plim-watcher', { deviceId: 'w1' });
    const log1 = new PresenceLog(w1);

    await assert.rejects(w1.subscribePresence(['plim-a', 'plim-b', 'plim-c']), { code: 'ERROR_CODE_LIMIT_EXCEEDED' });
    assert.equal(w1.pushedFrames().filter((f) => f.frame?.$case === 'presence').length, 0, 'a refused request watches nobody');

    await w1.subscribePresence(['plim-a', 'plim-b']);
    assert.deepEqual(log1.statuses('plim-a'), [OFFLINE]);
    assert.deepEqual(log1.statuses('plim-b'), [OFFLINE]);
    await assert.rejects(w1.subscribePresence(['plim-c']), { code: 'ERROR_CODE_LIMIT_EXCEEDED' });
    await w1.subscribePresence(['plim-a']); // already watched: not a new user

    // The limit is per connection: another device of the same user may watch plim-c.
    const w2 = await chatd.connect('plim-watcher', { deviceId: 'w2' });
    const log2 = new PresenceLog(w2);
    await w2.subscribePresence(['plim-c']);
    const c = await chatd.connect('plim-c');
    const a = await chatd.connect('plim-a');
    await log2.nth('plim-c', 1);
    await log1.nth('plim-a', 1);
    await w1.heartbeat();
    assert.deepEqual(log1.of('plim-c'), [], 'the refused user is not watched');
    assert.deepEqual(log2.statuses('plim-c'), [OFFLINE, ONLINE]);
    await Promise.all([w1.close(), w2.close(), c.close(), a.close()]);
  });

  it('keeps a user ONLINE while a second device is connected', async () => {
    const w = await chatd.connect('pdev-watcher');
    await w.send(dmConversationId('pdev-watcher', 'pdev-peer'), 'hi');
    const phone = await chatd.connect('pdev-peer', { deviceId: 'phone' });
    const log = new PresenceLog(w);
    await w.subscribePresence(['pdev-peer']);
    assert.deepEqual(log.statuses('pdev-peer'), [ONLINE], 'the current state of a connected user');

    const laptop = await chatd.connect('pdev-peer', { deviceId: 'laptop' });
    await phone.close();
    // Round trips through the server, so the phone's disconnect has been handled.
    await laptop.heartbeat();
    const api = await chatd.api('pdev-watcher');
    assert.deepEqual((await api.getPresence(['pdev-peer'])).map((p) => p.status), [ONLINE]);
    assert.deepEqual(log.statuses('pdev-peer'), [ONLINE], 'no OFFLINE while the laptop is connected');

    const closing = Date.now();
    await laptop.close();
    const offline = await log.nth('pdev-peer', 1);
    assert.equal(offline.event.status, OFFLINE);
    assert.ok(offline.event.lastSeen!.getTime() >= closing, 'OFFLINE comes from the last device leaving');
    assert.deepEqual(log.statuses('pdev-peer'), [ONLINE, OFFLINE]);
    await w.close();
  });

  it('answers GetPresence over HTTP only about users who share a conversation', async () => {
    const w = await chatd.connect('phttp-watcher');
    await w.send(dmConversationId('phttp-watcher', 'phttp-dm'), 'hi');
    const api = await chatd.api('phttp-watcher');
    await api.createGroup('http group', ['phttp-member']);
    const dm = await chatd.connect('phttp-dm');
    const stranger = await chatd.connect('phttp-stranger');

    const byUser = async (): Promise<Map<string, { status: PresenceStatus; lastSeen: number | undefined }>> =>
      new Map(
        (await api.getPresence(['phttp-dm', 'phttp-member', 'phttp-stranger'])).map((p) => [p.userId, { status: p.status, lastSeen: p.lastSeen?.getTime() }]),
      );
    const first = await byUser();
    assert.deepEqual([...first.keys()].sort(), ['phttp-dm', 'phttp-member'], 'the stranger is omitted');
    assert.equal(first.get('phttp-dm')?.status, ONLINE);
    assert.deepEqual(first.get('phttp-member'), { status: OFFLINE, lastSeen: undefined });

    const closing = Date.now();
    await dm.close();
    await waitUntil(async () => (await byUser()).get('phttp-dm')?.status === OFFLINE, 5000, 'phttp-dm OFFLINE over HTTP');
    const afterClose = (await byUser()).get('phttp-dm')!;
    assert.ok(afterClose.lastSeen !== undefined && afterClose.lastSeen >= closing && afterClose.lastSeen <= Date.now());

    // Visibility is the caller's: the stranger sees neither of them.
    const strangerApi = await chatd.api('phttp-stranger');
    assert.deepEqual(await strangerApi.getPresence(['phttp-dm', 'phttp-member', 'phttp-watcher']), []);
    await Promise.all([w.close(), stranger.close()]);
  });

  it('stops pushing presence once the users no longer share a conversation', async () => {
    const api = await chatd.api('pleft-watcher');
    const group = await api.createGroup('soon left', ['pleft-peer']);
    const w = await chatd.connect('pleft-watcher');
    await w.send(dmConversationId('pleft-watcher', 'pleft-friend'), 'hi');
    const log = new PresenceLog(w);
    await w.subscribePresence(['pleft-peer', 'pleft-friend']);
    await api.removeMembers(group.groupId, ['pleft-watcher']);
    assert.deepEqual(await api.getPresence(['pleft-peer']), [], 'GetPresence applies the rule');

    const peer = await chatd.connect('pleft-peer');
    // Presence changes reach a watcher in publish order: once the friend's ONLINE is here, the
    // peer's would be too.
    const friend = await chatd.connect('pleft-friend');
    await log.nth('pleft-friend', 1);
    assert.deepEqual(log.statuses('pleft-peer'), [OFFLINE], 'no ONLINE about a user no longer visible');
    await Promise.all([w.close(), peer.close(), friend.close()]);
  });
});

describe('chatd presence TTL', () => {
  const TTL = 600;
  let chatd: TestChatd;
  // Watchers heartbeat every 150 ms (told in welcome), well inside the TTL.
  before(async () => (chatd = await TestChatd.start({ presenceTtlMs: String(TTL), heartbeatIntervalMs: '150' })));
  after(async () => chatd.stop());

  it('reports OFFLINE and closes the connection when heartbeats stop for the TTL', async () => {
    const api = await chatd.api('pttl-watcher');
    await api.createGroup('ttl', ['pttl-peer']);
    const w = await chatd.connect('pttl-watcher');
    const log = new PresenceLog(w);
    await w.subscribePresence(['pttl-peer']);

    let closed: { code: number; at: number } | undefined;
    const connecting = Date.now();
    const peer = await chatd.connect('pttl-peer', { autoHeartbeat: false, listeners: { close: (code) => (closed = { code, at: Date.now() }) } });
    const connected = Date.now();
    assert.equal((await log.nth('pttl-peer', 1)).event.status, ONLINE);

    const offline = await log.nth('pttl-peer', 2, TTL + 3000);
    assert.equal(offline.event.status, OFFLINE);
    assert.ok(offline.at >= connecting + TTL, `OFFLINE ${offline.at - connecting} ms after connecting, not before the TTL`);
    // Sweeps run every TTL/10 (at least 100 ms); allow for a loaded machine.
    assert.ok(offline.at <= connected + TTL + 1000, `OFFLINE ${offline.at - connected} ms after connecting`);
    const lastSeen = offline.event.lastSeen?.getTime();
    assert.ok(lastSeen !== undefined && lastSeen >= connecting && lastSeen <= offline.at, `last_seen ${lastSeen}`);

    await waitUntil(() => closed !== undefined, TTL + 3000, 'the silent connection to be closed');
    assert.equal(closed!.code, 4008, 'closed for a lapsed heartbeat');
    assert.ok(closed!.at <= connected + TTL + 1500, `closed ${closed!.at - connected} ms after connecting`);
    assert.equal(peer.isOpen, false);
    assert.deepEqual(log.statuses('pttl-peer'), [OFFLINE, ONLINE, OFFLINE]);
    await w.close();
  });

  it('keeps a heartbeating user ONLINE past the TTL', async () => {
    const w = await chatd.connect('phb-watcher');
    await w.send(dmConversationId('phb-peer', 'phb-watcher'), 'hi');
    const log = new PresenceLog(w);
    await w.subscribePresence(['phb-peer']);
    const peer = await chatd.connect('phb-peer', { autoHeartbeat: false });
    await log.nth('phb-peer', 1);

    // The peer's own heartbeat cadence: a quarter of the TTL, for two and a half TTLs.
    const until = Date.now() + 2.5 * TTL;
    let lastBeat = 0;
    while (Date.now() < until) {
      const before = Date.now();
      const pong = await peer.heartbeat();
      const serverTime = pong.serverTime?.getTime();
      assert.ok(serverTime !== undefined && serverTime >= before && serverTime <= Date.now(), 'pong carries the server time');
      lastBeat = before;
      await delay(TTL / 4);
    }
    assert.ok(peer.isOpen, 'a heartbeating connection stays open');
    const api = await chatd.api('phb-watcher');
    assert.deepEqual((await api.getPresence(['phb-peer'])).map((p) => p.status), [ONLINE]);
    assert.deepEqual(log.statuses('phb-peer'), [OFFLINE, ONLINE], 'no lapse while heartbeating');

    // Once the heartbeats stop, the TTL runs out after all.
    const offline = await log.nth('phb-peer', 2, TTL + 3000);
    assert.equal(offline.event.status, OFFLINE);
    assert.ok(offline.at >= lastBeat + TTL, `OFFLINE ${offline.at - lastBeat} ms after the last heartbeat, not before the TTL`);
    await waitUntil(() => !peer.isOpen, TTL + 3000, 'the connection to be closed');
    await w.close();
  });
});
