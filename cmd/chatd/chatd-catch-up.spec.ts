import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GapReason, type HistoryPage } from '../../gen/chat/v1/gateway';
import { PresenceStatus, type ChatMessage } from '../../gen/chat/v1/message';
import type { ChatClient } from '../../internal/client/chat-client';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
import { dedupeById, TestChatd } from './testing/chatd-harness';

const NO_RATE_LIMIT = { sendRatePerSec: '10000', sendBurst: '10000' } as const;
/**
 * These suites check the cursor arithmetic exactly, so the resume overlap window is off: in one
 * chatd ids are issued and stored in order, and with the window every replay would also repeat
 * the last 30 s. The window itself is tested in chatd-resume.spec.ts.
 */
const EXACT = { ...NO_RATE_LIMIT, resumeOverlapMs: '0' } as const;

/**
 * A receiving device the way an app behaves: it shows every message it gets, live or replayed
 * after `hello`, acknowledges each one, and pages forward with `history` when a replay says
 * has_more. `shown` keeps duplicates, so tests can see how much arrived twice.
 */
class Device {
  /** Every message shown, in arrival order, duplicates included. */
  readonly shown: ChatMessage[] = [];
  /** The pages the server pushed unasked (resume replays), in arrival order. */
  readonly replays: HistoryPage[] = [];
  client: ChatClient | undefined;
  private work: Promise<void> = Promise.resolve();
  private readonly failures: unknown[] = [];

  constructor(
    private readonly chatd: TestChatd,
    readonly userId: string,
    readonly deviceId: string,
    /** A client that tracks last_seen itself may not ack at all. */
    private readonly acks = true,
  ) {}

  async connect(lastSeen?: Record<string, string>): Promise<void> {
    let opened!: (c: ChatClient) => void;
    const ready = new Promise<ChatClient>((resolve) => (opened = resolve));
    // The replay can arrive before connect() resolves: listeners given here see it, and whatever
    // needs the client (acks, paging) waits for `ready`.
    this.client = await this.chatd.connect(this.userId, {
      deviceId: this.deviceId,
      lastSeen,
      listeners: {
        message: (m) => this.show(ready, [m]),
        historyPage: (page) => {
          this.replays.push(page);
          this.show(ready, page.messages);
          const last = page.messages.at(-1);
          if (page.hasMore && last) this.then(ready, (c) => this.pageForward(c, page.conversationId, last.messageId));
        },
      },
    });
    opened(this.client);
  }

  async close(): Promise<void> {
    await this.client?.close();
  }

  /** Waits until the device has shown every one of `ids` and finished its paging. */
  async caughtUp(ids: readonly string[], timeoutMs = 5000): Promise<void> {
    await waitUntil(() => {
      const have = new Set(this.shown.map((m) => m.messageId));
      return ids.every((id) => have.has(id));
    }, timeoutMs, `${this.userId} to show all ${ids.length} messages`);
    await this.work;
    assert.deepEqual(this.failures, []);
  }

  /** The newest message id shown in a conversation. */
  newestSeen(conversationId: string): string {
    const ids = this.shown.filter((m) => m.conversationId === conversationId).map((m) => BigInt(m.messageId));
    assert.ok(ids.length > 0, `nothing shown in ${conversationId}`);
    return ids.reduce((a, b) => (a > b ? a : b)).toString();
  }

  /** How many messages were shown more than once, and the most times any one was shown. */
  repeats(): { extra: number; maxCopies: number } {
    const counts = new Map<string, number>();
    for (const m of this.shown) counts.set(m.messageId, (counts.get(m.messageId) ?? 0) + 1);
    return { extra: this.shown.length - counts.size, maxCopies: Math.max(0, ...counts.values()) };
  }

  private show(ready: Promise<ChatClient>, messages: ChatMessage[]): void {
    this.shown.push(...messages);
    const ids = messages.map((m) => m.messageId);
    this.then(ready, (c) => {
      // A message can arrive while the socket is closing; its ack is lost, which only means replay.
      if (this.acks && c.isOpen && ids.length > 0) {
        try {
          c.ack(ids);
        } catch {
          /* closing */
        }
      }
    });
  }

  private async pageForward(c: ChatClient, conversationId: string, afterId: string): Promise<void> {
    for (;;) {
      const page = await c.history({ conversationId, afterId });
      this.show(Promise.resolve(c), page.messages);
      const last = page.messages.at(-1);
      if (!page.hasMore || !last) return;
      afterId = last.messageId;
    }
  }

  private then(ready: Promise<ChatClient>, step: (c: ChatClient) => void | Promise<void>): void {
    this.work = this.work
      .then(() => ready)
      .then(step)
      .catch((err: unknown) => void this.failures.push(err));
  }
}

/** Sends `n` messages one after another, waiting at the given indexes for a gate to open. */
async function sendStream(c: ChatClient, conversationId: string, n: number, acked: string[], gates: ReadonlyMap<number, Promise<void>> = new Map()): Promise<void> {
  for (let i = 0; i < n; i++) {
    await gates.get(i);
    acked.push((await c.send(conversationId, `s${i}`)).messageId);
  }
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const idsOf = (messages: readonly ChatMessage[]): string[] => messages.map((m) => m.messageId);

/** Waits until the server has handled a device's disconnect: its user shows OFFLINE to a peer. */
async function waitOffline(chatd: TestChatd, viewer: string, userId: string): Promise<void> {
  const api = await chatd.api(viewer);
  await waitUntil(async () => (await api.getPresence([userId]))[0]?.status === PresenceStatus.PRESENCE_STATUS_OFFLINE, 5000, `${userId} OFFLINE`);
}

/**
 * The stream every catch-up test uses: 60 sends; the receiver is closed after it has shown 15
 * (while sends continue), 20 are sent while it is away, it reconnects, the rest race its replay.
 */
async function disconnectMidStream(
  chatd: TestChatd,
  prefix: string,
  reconnect: (device: Device, conversationId: string) => Promise<void>,
  acks = true,
): Promise<{ device: Device; acked: string[]; conversationId: string }> {
  const N = 60;
  const conversationId = dmConversationId(`${prefix}-r`, `${prefix}-s`);
  const sender = await chatd.connect(`${prefix}-s`);
  const device = new Device(chatd, `${prefix}-r`, 'phone', acks);
  await device.connect();
  const away = gate();
  const back = gate();
  const acked: string[] = [];
  const sending = sendStream(sender, conversationId, N, acked, new Map([[20, away.promise], [40, back.promise]]));

  await waitUntil(() => device.shown.length >= 15, 5000, 'the first messages');
  await device.close();
  away.open();
  await waitUntil(() => acked.length === 40, 5000, 'the sends while the device is away');
  // The stream goes on while the device says hello: sends race its registration and replay.
  const reconnecting = reconnect(device, conversationId);
  back.open();
  await reconnecting;
  await sending;
  await device.caughtUp(acked);
  await Promise.all([device.close(), sender.close()]);
  return { device, acked, conversationId };
}

function assertExactlyOnceAfterDedupe(device: Device, acked: readonly string[]): void {
  const shown = dedupeById(device.shown);
  assert.deepEqual(idsOf(shown), acked, 'every acked send, once, in id order');
  assert.deepEqual(shown.map((m) => m.text), acked.map((_, i) => `s${i}`));
  const { extra, maxCopies } = device.repeats();
  assert.ok(extra <= 5 && maxCopies <= 2, `only a small overlap repeats (extra ${extra}, max copies ${maxCopies})`);
}

describe('chatd catch-up after a reconnect', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start(EXACT)));
  after(async () => chatd.stop());

  it('loses and repeats nothing when a device reconnects mid-stream with last_seen', async () => {
    let lastSeen = '';
    // This device never acks, so only last_seen can tell the server where it left off.
    const { device, acked, conversationId } = await disconnectMidStream(
      chatd,
      'cls',
      async (d, conv) => {
        lastSeen = d.newestSeen(conv);
        await d.connect({ [conv]: lastSeen });
      },
      false,
    );
    assertExactlyOnceAfterDedupe(device, acked);
    // The replay is what came after last_seen, oldest first, in one page (fewer than the maximum).
    const [replay, ...more] = device.replays;
    assert.equal(more.length, 0);
    assert.equal(replay?.conversationId, conversationId);
    assert.equal(replay.hasMore, false);
    const from = acked.indexOf(lastSeen) + 1;
    assert.ok(from >= 15 && from <= 20, `last_seen is message #${from - 1}`);
    assert.deepEqual(idsOf(replay.messages), acked.slice(from, from + replay.messages.length));
    assert.ok(replay.messages.length >= 40 - from, 'everything sent while away is replayed');
  });

  it('loses and repeats nothing when a device reconnects mid-stream relying on its acks', async () => {
    const { device, acked, conversationId } = await disconnectMidStream(chatd, 'cack', async (d, conv) => {
      // At once: the server flushes acks when it handles the disconnect, before this hello.
      assert.ok(d.newestSeen(conv));
      await d.connect();
    });
    assertExactlyOnceAfterDedupe(device, acked);
    const [replay, ...more] = device.replays;
    assert.equal(more.length, 0);
    assert.equal(replay?.conversationId, conversationId);
    const from = acked.indexOf(replay.messages[0].messageId);
    assert.ok(from >= 15 && from <= 20, `replay starts after the acked message #${from - 1}`);
    assert.deepEqual(idsOf(replay.messages), acked.slice(from, from + replay.messages.length));
  });

  it('resumes named conversations from last_seen and the others from acked positions', async () => {
    const dm = dmConversationId('cmix-a', 'cmix-r');
    const group = await (await chatd.api('cmix-b')).createGroup('mix', ['cmix-r', 'cmix-a']);
    const a = await chatd.connect('cmix-a');
    const b = await chatd.connect('cmix-b');
    const device = new Device(chatd, 'cmix-r', 'tablet');
    await device.connect();
    const dmSent: string[] = [];
    const groupSent: string[] = [];
    await sendStream(a, dm, 5, dmSent);
    await sendStream(b, group.conversationId, 5, groupSent);
    await device.caughtUp([...dmSent, ...groupSent]);
    await device.close();
    await waitOffline(chatd, 'cmix-a', 'cmix-r');

    await sendStream(a, dm, 3, dmSent);
    await sendStream(b, group.conversationId, 3, groupSent);
    // last_seen names only the DM, with an older position than the device acked: it wins there.
    await device.connect({ [dm]: dmSent[1] });
    await device.caughtUp([...dmSent, ...groupSent]);
    const replays = new Map(device.replays.map((p) => [p.conversationId, p]));
    assert.equal(device.replays.length, 2);
    assert.deepEqual(idsOf(replays.get(dm)!.messages), dmSent.slice(2));
    assert.deepEqual(idsOf(replays.get(group.conversationId)!.messages), groupSent.slice(5), 'the group resumes after its last ack');
    assert.deepEqual(idsOf(dedupeById(device.shown)), [...dmSent, ...groupSent].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)));
    await Promise.all([a.close(), b.close(), device.close()]);
  });

  it('catches up on a restarted chatd from the positions acked before the restart', async () => {
    const conv = dmConversationId('crs-r', 'crs-s');
    let sender = await chatd.connect('crs-s');
    const device = new Device(chatd, 'crs-r', 'phone');
    await device.connect();
    const acked: string[] = [];
    await sendStream(sender, conv, 10, acked);
    await device.caughtUp(acked);
    await device.close();
    await waitOffline(chatd, 'crs-s', 'crs-r');
    await sendStream(sender, conv, 5, acked);

    await chatd.restart();
    await waitUntil(() => !sender.isOpen, 5000, 'the old connection to be closed');
    sender = await chatd.connect('crs-s');
    const more: string[] = [];
    await sendStream(sender, conv, 5, more);
    acked.push(...more);

    await device.connect();
    await device.caughtUp(acked);
    assert.deepEqual(device.replays.map((p) => [p.conversationId, idsOf(p.messages), p.hasMore]), [[conv, acked.slice(10), false]]);
    const live: string[] = [];
    await sendStream(sender, conv, 5, live);
    acked.push(...live);
    await device.caughtUp(acked);
    assert.deepEqual(idsOf(device.shown), acked, 'each message once, in order');
    await Promise.all([sender.close(), device.close()]);
  });
});

describe('chatd catch-up beyond the resume limit', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ ...EXACT, resumeMaxMessages: '5' })));
  after(async () => chatd.stop());

  it('replays at most CHAT_RESUME_MAX_MESSAGES with has_more, and paging forward completes the set', async () => {
    const conv = dmConversationId('cmax-r', 'cmax-s');
    const sender = await chatd.connect('cmax-s');
    const sent: string[] = [];
    await sendStream(sender, conv, 2, sent);
    // The device saw the first two; twelve more arrive while it is away.
    await sendStream(sender, conv, 12, sent);

    const r = await chatd.connect('cmax-r', { deviceId: 'laptop', lastSeen: { [conv]: sent[1] } });
    const [requestId, replay] = await r.waitFor((f) => (f.frame?.$case === 'historyPage' ? ([f.requestId, f.frame.value] as const) : undefined));
    assert.equal(requestId, r['helloRequestId'], 'the replay carries the request id of the hello');
    assert.deepEqual(idsOf(replay.messages), sent.slice(2, 7), 'the oldest missed messages, oldest first');
    assert.equal(replay.hasMore, true);
    const rest = await r.history({ conversationId: conv, afterId: replay.messages.at(-1)!.messageId });
    assert.deepEqual(idsOf(rest.messages), sent.slice(7));
    assert.equal(rest.hasMore, false);
    assert.equal(r.pushedFrames().filter((f) => f.frame?.$case === 'historyPage').length, 1, 'one page per conversation');
    const gap = await r.waitFor((f) => (f.frame?.$case === 'gap' ? f.frame.value : undefined));
    assert.deepEqual(gap, { conversationId: conv, afterId: sent[6], reason: GapReason.GAP_REASON_REPLAY_LIMIT }, 'the limit is named, with where to page on');
    const done = await r.waitFor((f) => (f.frame?.$case === 'resumeComplete' ? f.frame.value : undefined));
    assert.deepEqual(done, { conversations: 1, gaps: 1 });
    await r.close();

    // Exactly the limit missed: one full page, and has_more says that was all.
    await sendStream(sender, conv, 5, sent);
    const r2 = await chatd.connect('cmax-r', { deviceId: 'laptop', lastSeen: { [conv]: sent[13] } });
    const exact = await r2.waitFor((f) => (f.frame?.$case === 'historyPage' ? f.frame.value : undefined));
    assert.deepEqual(idsOf(exact.messages), sent.slice(14));
    assert.equal(exact.hasMore, false);
    assert.deepEqual(await r2.waitFor((f) => (f.frame?.$case === 'resumeComplete' ? f.frame.value : undefined)), { conversations: 1, gaps: 0 }, 'no gap when nothing is left');
    await Promise.all([r2.close(), sender.close()]);
  });

  it('pages forward after an ack-based replay that hit the limit, mid-stream', async () => {
    const { device, acked } = await disconnectMidStream(chatd, 'cpage', async (d) => {
      await waitOffline(chatd, 'cpage-s', 'cpage-r');
      await d.connect();
    });
    assert.deepEqual(idsOf(dedupeById(device.shown)), acked);
    const [replay] = device.replays;
    assert.equal(replay?.messages.length, 5);
    assert.equal(replay.hasMore, true);
  });
});
