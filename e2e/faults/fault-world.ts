import type { ChatMessage } from '../../gen/chat/v1/message';
import { GapReason, gapReasonToJSON, type HistoryPage, type ResumeGap } from '../../gen/chat/v1/gateway';
import { ChatClient } from '../../internal/client/chat-client';
import { HeldPositions } from '../../internal/client/held-positions';
import { ResumeSession } from '../../internal/client/resume-session';
import { SNOWFLAKE_EPOCH_MS } from '../../internal/snowflake/snowflake';
import type { FaultMesh } from './fault-mesh';
import type { SeededRandom } from './seeded-random';

/** A conversation of a scenario and who may read it. */
export interface Conversation {
  id: string;
  members: string[];
}

/** One message a client tried to send, with every answer it got (retries reuse the client_msg_id). */
export interface SendAttempt {
  conversationId: string;
  senderId: string;
  deviceId: string;
  clientMsgId: string;
  text: string;
  /** The message id of every send_ack received, with the connection it came on. */
  acks: { messageId: string; connection: number }[];
  errors: string[];
  /** Sent concurrently with other sends of its device: no order is promised among them. */
  concurrent?: boolean;
  /** When the first try started and when the first ack came (Date.now()), for availability figures. */
  startedAtMs?: number;
  ackedAtMs?: number;
}

/** The smallest Snowflake id of a given Unix millisecond (worker 0, sequence 0). */
export function snowflakeAt(unixMs: number): bigint {
  return BigInt(Math.max(0, unixMs - SNOWFLAKE_EPOCH_MS)) << 22n;
}

/** The Unix millisecond of a Snowflake id. */
export function snowflakeMs(id: string): number {
  return Number(BigInt(id) >> 22n) + SNOWFLAKE_EPOCH_MS;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A hole in a device's positions older than this is filled from history (the relay's ack timeout is 3 s). */
const HOLE_REPAIR_MS = 4_000;

/** How a scenario's device behaves beyond the careful client it always is. */
export interface DeviceOptions {
  /** Fill a hole in its positions from history once it outlives HOLE_REPAIR_MS. Default true. */
  repairHoles?: boolean;
}

/**
 * One device of a scenario, behaving like a careful client: it keeps a connection (reconnecting
 * with jittered backoff to a live chat server when it closes or its heartbeats go unanswered),
 * tracks where it holds every message of each conversation from their `seq` numbers
 * (HeldPositions) and presents that as `resume_after` on every hello (with `last_seen`, the newest
 * id shown, as the hint for the rest), follows the server's resume protocol (each connection's
 * replay buffered by the SDK's ResumeSession until `resume_complete`; a `gap` is paged or resumed
 * again), dedupes by message id, and retries a failed
 * send with the same client_msg_id. Everything it is shown (live or replayed) is recorded for the
 * checker, which counts the repeats.
 */
export class Device {
  client?: ChatClient;
  /** Connections opened so far; a send_ack is tagged with the one it came on. */
  connections = 0;
  /** Every message frame or replayed history message, in arrival order, duplicates included. */
  readonly received: ChatMessage[] = [];
  /** How each of `received` came: pushed live, in a resume replay, or paged with `history`. */
  readonly receivedVia: ('live' | 'replay' | 'page')[] = [];
  /** Closes seen by this device: code and reason. */
  readonly closes: { code: number; reason: string }[] = [];
  /** Gaps the server named, by reason (for the scenario's report). */
  readonly gaps = new Map<string, number>();
  /**
   * Positions a resume could not serve (a gap other than the replay limit, or an error before the
   * replay ended): later hellos present no more than these until a replay completes without one.
   */
  private pinned?: Map<string, bigint>;
  /** Where this device holds every message, per conversation (what `resume_after` names). */
  readonly positions = new HeldPositions();
  /** When each conversation's current hole was first seen, and those being filled from history. */
  private readonly holeSince = new Map<string, number>();
  private readonly repairing = new Set<string>();
  /** The current connection's resume replay is not over: holes are the replay's to fill. */
  private resuming = false;
  private openedAt = 0;
  private lastPongAt = 0;
  private reconnecting?: Promise<void>;
  private watchdog?: NodeJS.Timeout;
  stopped = false;

  constructor(
    readonly world: FaultWorld,
    readonly userId: string,
    readonly deviceId: string,
    readonly rng: SeededRandom,
    private readonly opts: DeviceOptions = {},
  ) {}

  /** The newest id shown per conversation (pinned lower after an unserved resume); the scenario start otherwise. */
  lastSeen(): Record<string, string> {
    const out: Record<string, string> = {};
    const floor = snowflakeAt(this.world.startedAt - 60_000);
    for (const c of this.world.conversationsOf(this.userId)) {
      let from = floor;
      for (const m of this.received) if (m.conversationId === c.id && BigInt(m.messageId) > from) from = BigInt(m.messageId);
      const pin = this.pinned?.get(c.id);
      if (pin !== undefined && pin < from) from = pin;
      out[c.id] = from.toString();
    }
    return out;
  }

  /** A message shown, live or paged: recorded, and it moves the position if it is the next one. */
  private show(m: ChatMessage): void {
    this.record([m], 'live');
    this.track(m.conversationId);
    this.positions.receive(m);
  }

  private record(messages: readonly ChatMessage[], via: Device['receivedVia'][number]): void {
    for (const m of messages) {
      this.received.push(m);
      this.receivedVia.push(via);
    }
  }

  /** A conversation this device follows from the scenario's start (its messages all come after the floor). */
  private track(conversationId: string): void {
    if (!this.positions.get(conversationId)) this.positions.startAt(conversationId, snowflakeAt(this.world.startedAt - 60_000).toString());
  }

  /** Opens a connection to `server` (or a live one picked at random); resolves after the resume replay began. */
  async connect(server?: number): Promise<void> {
    const mesh = this.world.mesh;
    const live = mesh.liveServers();
    const index = server ?? this.rng.pick(live.length > 0 ? live : [0]);
    // Set once connected; the listeners can fire before (a close during the handshake).
    const opened: { client?: ChatClient } = {};
    const conversations = this.world.conversationsOf(this.userId).map((c) => c.id);
    for (const c of conversations) this.track(c);
    const presented = this.lastSeen();
    const replay = { complete: false, unserved: false };
    this.resuming = true;
    // This connection's replay, over this device's positions: its pages move them once the replay
    // is over, and only contiguously where a gap other than REPLAY_LIMIT named the conversation (a
    // page followed by HISTORY_BEHIND may lack a message history has not stored yet). Live
    // messages and send_acks move them at once, as before; the hello fields are this device's own.
    const replayState = new ResumeSession(this.positions);
    replayState.hello();
    const pageAfterReplay: ResumeGap[] = [];
    // A connection this device gave up on (it reconnected elsewhere) may still deliver frames
    // while its close completes, a stopped server flushing its backlog: they are ignored, as a
    // client drops what a socket it is closing still brings (the resume covers them).
    const current = () => opened.client === undefined || this.client === opened.client;
    const client = await ChatClient.connect({
      url: mesh.chatServers[index].wsUrl,
      token: await mesh.token(this.userId),
      deviceId: this.deviceId,
      lastSeen: presented,
      resumeAfter: this.positions.heldThrough(conversations),
      requestTimeoutMs: 5_000,
      connectTimeoutMs: 5_000,
      listeners: {
        message: (m) => {
          if (current()) this.show(m);
        },
        historyPage: (p: HistoryPage) => {
          if (!current()) return;
          this.record(p.messages, 'replay');
          replayState.page(p);
        },
        gap: (g: ResumeGap) => {
          const reason = gapReasonToJSON(g.reason);
          this.gaps.set(reason, (this.gaps.get(reason) ?? 0) + 1);
          replayState.gap(g);
          // More missed than one replay holds: page on, as the protocol asks, once the replay moved
          // the position (so the paging asks only for what is still missing).
          if (g.reason === GapReason.GAP_REASON_REPLAY_LIMIT) return void pageAfterReplay.push(g);
          // History behind or unreadable: keep that position (for any later hello) and page it a
          // moment later on this connection. Reconnecting instead would add load when a storm of
          // resumes is what made history slow.
          this.pin(g.conversationId, BigInt(g.afterId));
          setTimeout(() => void this.pageOn(g.conversationId, g.afterId, true), 1_000 + this.rng.int(1_000));
        },
        // An error during the replay (saved positions unreadable): keep every position and resume again.
        error: () => {
          if (replay.complete) return;
          replay.unserved = true;
          for (const [c, v] of Object.entries(presented)) this.pin(c, BigInt(v));
        },
        resumeComplete: (done) => {
          replay.complete = true;
          if (current()) this.resuming = false;
          replayState.complete();
          for (const g of pageAfterReplay) void this.pageOn(g.conversationId, this.positions.get(g.conversationId)?.messageId ?? g.afterId);
          if (replay.unserved) {
            if (opened.client !== undefined && this.client === opened.client) void opened.client.close(4000, 'resume incomplete').catch(() => undefined);
          } else if (done.gaps === 0) {
            this.pinned = undefined;
          }
        },
        close: (code: number, reason: string) => {
          this.closes.push({ code, reason });
          if (opened.client !== undefined && this.client === opened.client) this.scheduleReconnect();
        },
      },
    });
    this.connections++;
    this.openedAt = Date.now();
    opened.client = client;
    this.client = client;
    if (replay.complete && replay.unserved) void client.close(4000, 'resume incomplete').catch(() => undefined);
    this.watch(client);
  }

  /**
   * Pages a conversation forward from `afterId` with `history` + after_id, as the protocol asks
   * for a gap, until this device holds everything history has; `unpin` when the position was
   * pinned for this gap and is served once paged to the end. Where the device knows the size of
   * its first hole (HeldPositions.firstHole), a page asks for just that many, so paging a hole
   * repeats nothing it holds past it.
   */
  private async pageOn(conversationId: string, afterId: string, unpin = false): Promise<void> {
    let after = afterId;
    try {
      for (let round = 0; round < 100; round++) {
        const hole = this.positions.firstHole(conversationId);
        const limit = hole && hole.afterId === after && hole.count > 0 ? Math.min(100, hole.count) : 100;
        const before = this.positions.get(conversationId)?.messageId;
        const next = await (await this.connected()).history({ conversationId, afterId: after, limit });
        this.record(next.messages, 'page');
        // A page read from where the device holds everything is the conversation from there.
        if (before === after) this.positions.replayed(conversationId, next.messages);
        else for (const m of next.messages) this.positions.receive(m);
        if (next.messages.length === 0) break;
        const held = this.positions.get(conversationId)?.messageId;
        if (limit < 100 && next.messages.length === limit) {
          // The hole's size: filled, or it never fills (the position did not move).
          if (held === undefined || held === before) break;
          after = held;
        } else if (!next.hasMore) {
          break;
        } else {
          after = next.messages.at(-1)!.messageId;
        }
      }
      if (unpin && this.pinned?.get(conversationId) === BigInt(afterId)) this.pinned.delete(conversationId);
    } catch {
      // Not served to the end: keep the position reached and resume again from it.
      this.pin(conversationId, BigInt(after));
      const c = this.client;
      if (c) void c.close(4000, 'paging failed').catch(() => undefined);
    }
  }

  /**
   * A hole that outlived HOLE_REPAIR_MS (longer than a delivery waits for the relay's ack timeout
   * and the fallback) is filled from history, as a client should, unless this device was made not
   * to (a scenario that must see the resume itself fill it).
   */
  private repairHoles(): void {
    if (this.resuming) {
      this.holeSince.clear();
      return;
    }
    const now = Date.now();
    const holes = new Set(this.positions.withGaps());
    for (const c of this.holeSince.keys()) if (!holes.has(c)) this.holeSince.delete(c);
    for (const c of holes) {
      const since = this.holeSince.get(c) ?? now;
      this.holeSince.set(c, since);
      if (this.opts.repairHoles === false || now - since < HOLE_REPAIR_MS || this.repairing.has(c)) continue;
      const hole = this.positions.firstHole(c);
      if (!hole) continue;
      this.repairing.add(c);
      this.holeSince.delete(c);
      void this.pageOn(c, hole.afterId).finally(() => this.repairing.delete(c));
    }
  }

  /** Later hellos present no more than `at` for the conversation until it is served. */
  private pin(conversationId: string, at: bigint): void {
    this.pinned ??= new Map();
    const held = this.pinned.get(conversationId);
    if (held === undefined || at < held) this.pinned.set(conversationId, at);
  }

  /** A server that stopped answering (SIGSTOP, partition) keeps the socket open: give up on it after a missed pong. */
  private watch(client: ChatClient): void {
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (this.client !== client) return;
      if (client.isOpen) this.repairHoles();
      if (!client.isOpen) return this.scheduleReconnect();
      client.heartbeat().then(() => (this.lastPongAt = Date.now())).catch(() => {
        if (this.client !== client || this.stopped) return;
        void client.close(4000, 'no pong').catch(() => undefined);
        this.scheduleReconnect();
      });
    }, 1_000);
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnecting) return;
    this.client = undefined;
    this.reconnecting = (async () => {
      let backoff = 100;
      while (!this.stopped) {
        await sleep(backoff / 2 + this.rng.int(backoff));
        try {
          await this.connect();
          return;
        } catch {
          backoff = Math.min(backoff * 2, 2_000);
        }
      }
    })().finally(() => (this.reconnecting = undefined));
  }

  /** Connected for a while, and the server answered a heartbeat lately: not about to move. */
  settled(): boolean {
    const now = Date.now();
    return this.client?.isOpen === true && now - this.openedAt >= 1_500 && now - this.lastPongAt < 1_500;
  }

  /** Waits for a connection (reconnecting if needed), up to `timeoutMs`. */
  async connected(timeoutMs = 30_000): Promise<ChatClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.client?.isOpen) return this.client;
      if (Date.now() > deadline) throw new Error(`${this.deviceId}: no connection within ${timeoutMs} ms`);
      if (!this.reconnecting) this.scheduleReconnect();
      await sleep(50);
    }
  }

  /** Sends one attempt, retrying with the same client_msg_id until acknowledged or `deadline`. */
  async send(attempt: SendAttempt, deadline: number): Promise<void> {
    attempt.startedAtMs ??= Date.now();
    while (Date.now() < deadline) {
      try {
        const client = await this.connected(Math.max(1, deadline - Date.now()));
        const connection = this.connections;
        const ack = await client.send(attempt.conversationId, attempt.text, attempt.clientMsgId);
        attempt.acks.push({ messageId: ack.messageId, connection });
        this.track(ack.conversationId);
        this.positions.receive(ack);
        attempt.ackedAtMs ??= Date.now();
        return;
      } catch (err) {
        attempt.errors.push(err instanceof Error ? err.message : String(err));
        await sleep(100 + this.rng.int(200));
      }
    }
  }

  /** Closes for good (the checker reconnects explicitly afterwards if it wants a fresh resume). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    const c = this.client;
    this.client = undefined;
    await Promise.race([c?.close().catch(() => undefined), sleep(2_000)]);
  }

  /**
   * Reopens after {@link stop}: a final resume on `server`, with this device's last_seen, or on any
   * live server with backoff when that one refuses (an orchestrator may still be restarting it).
   */
  async resume(server: number): Promise<void> {
    this.stopped = false;
    try {
      await this.connect(server);
    } catch {
      await this.connected(60_000);
    }
  }
}

/**
 * The recorded world of one scenario: its users, conversations, devices, every send attempt, and
 * a seeded load generator. The checker verifies it against history once the scenario healed.
 */
export class FaultWorld {
  readonly conversations: Conversation[] = [];
  readonly devices: Device[] = [];
  readonly attempts: SendAttempt[] = [];
  readonly startedAt = Date.now();
  private sendSeq = 0;

  constructor(
    readonly mesh: FaultMesh,
    readonly name: string,
    readonly rng: SeededRandom,
  ) {}

  /** A user id unique to this scenario and run. */
  user(tag: string): string {
    return `${this.name}-${this.startedAt.toString(36)}-${tag}`;
  }

  conversationsOf(userId: string): Conversation[] {
    return this.conversations.filter((c) => c.members.includes(userId));
  }

  isMember(userId: string, conversationId: string): boolean {
    return this.conversations.some((c) => c.id === conversationId && c.members.includes(userId));
  }

  /** Creates a group through the api-server (by its first member) and records it. */
  async group(members: string[]): Promise<Conversation> {
    const api = await this.mesh.api(members[0]);
    const g = await api.createGroup(`${this.name} group`, members.slice(1, 100));
    for (let i = 100; i < members.length; i += 100) await api.addMembers(g.groupId, members.slice(i, i + 100));
    const c = { id: `g:${g.groupId}`, members };
    this.conversations.push(c);
    return c;
  }

  dm(a: string, b: string): Conversation {
    const c = { id: `dm:${[a, b].sort().join(':')}`, members: [a, b] };
    this.conversations.push(c);
    return c;
  }

  /** A device of `userId`, connected to `server` (or a live one picked by the seed). */
  async device(userId: string, server?: number, suffix = 'd', opts: DeviceOptions = {}): Promise<Device> {
    const d = new Device(this, userId, `${userId}-${suffix}`, this.rng.fork(`${userId}-${suffix}`), opts);
    this.devices.push(d);
    try {
      await d.connect(server);
    } catch {
      await d.connected(60_000); // that server is not answering: any live one, with backoff
    }
    return d;
  }

  /** Records a new attempt whose conversation and text come from the sender device's seeded stream. */
  plan(device: Device): SendAttempt {
    const conv = device.rng.pick(this.conversationsOf(device.userId));
    const n = ++this.sendSeq;
    const attempt: SendAttempt = {
      conversationId: conv.id,
      senderId: device.userId,
      deviceId: device.deviceId,
      clientMsgId: `${device.deviceId}-${n}`,
      text: `${this.name} #${n} ${device.rng.int(1e9).toString(36)}`,
      acks: [],
      errors: [],
    };
    this.attempts.push(attempt);
    return attempt;
  }

  /**
   * Every sender sends sequentially (each send retried until acknowledged or the retry deadline),
   * pausing `pauseMs` between sends, until `stop()` says so. Resolves when every sender finished.
   */
  async load(senders: Device[], stop: () => boolean, opts: { pauseMs?: number; retryMs?: number } = {}): Promise<void> {
    const pauseMs = opts.pauseMs ?? 20;
    await Promise.all(
      senders.map(async (d) => {
        while (!stop()) {
          await d.send(this.plan(d), Date.now() + (opts.retryMs ?? 45_000));
          await sleep(pauseMs);
        }
      }),
    );
  }

  acked(): SendAttempt[] {
    return this.attempts.filter((a) => a.acks.length > 0);
  }
}
