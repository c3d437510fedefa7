import { GapReason, type HistoryPage, type ResumeGap, type SendAck } from '../../gen/chat/v1/gateway';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { HeldPositions, type HeldPosition, type Numbered } from './held-positions';

/** What the next `ack` frame carries. */
export interface PendingAck {
  messageIds: string[];
  heldThrough: Record<string, string>;
}

/** What a new connection presents in `hello`. */
export interface ResumeHello {
  resumeAfter: Record<string, string>;
  lastSeen: Record<string, string>;
}

/**
 * A client's resume bookkeeping, one connection at a time: where it holds every message of each
 * conversation (a {@link HeldPositions}, from the `seq` numbers of what it receives; kept across
 * restarts through {@link snapshot}), what each `hello` presents, and what to acknowledge. It
 * sends nothing: the client feeds it every frame and sends what {@link takeAck} returns. The web
 * client and `chat tail` use it; no Node-only code, it goes into the browser bundle.
 *
 * The rules (docs/clients.md "How a client resumes"):
 * - `hello` presents the held positions as `resume_after`, and the newest ids seen as the
 *   `last_seen` hint only for conversations without one (unnumbered messages, or a client that
 *   kept only newest ids before positions existed).
 * - A replay's pages move positions at `resume_complete`, all at once (`replayed`), unless a gap
 *   other than REPLAY_LIMIT named the conversation: history may have lacked a message there, so
 *   only contiguous numbers count (`receive`).
 * - A conversation such a gap names that has no position starts at the gap's `after_id` (where
 *   the server resumed it from): nothing after it counts as held until a page read forwards from
 *   there arrives.
 * - Live messages and send_acks that arrive during the replay count at its end: counted first, one
 *   of a conversation without a position would start it past what the replay still brings.
 * - A page read forwards from the held id (paging a gap) moves it like a replay; any other page
 *   (the latest one, older ones, a page from below the held id) counts only contiguous numbers.
 * - Acks wait for the end of the replay too, and name `held_through` for every conversation they
 *   touch that has a position: without it the server would save the newest acked id as a hint,
 *   replacing its exact position.
 */
export class ResumeSession {
  private readonly positions: HeldPositions;
  /** Per conversation, the newest id received: the `last_seen` hint where there is no position. */
  private readonly newest = new Map<string, bigint>();
  /** Ids received on the current connection, not acknowledged yet. */
  private ackIds: string[] = [];
  /** Conversations whose held position the next ack names. */
  private readonly ackHeld = new Set<string>();
  private inReplay = false;
  private replay = new Map<string, ChatMessage[]>();
  private gaps = new Map<string, ResumeGap>();
  private live: Numbered[] = [];

  /**
   * `saved`: the positions of {@link snapshot}, from an earlier page load; or a HeldPositions to
   * work on, shared with the caller (the fault suite's devices keep one ResumeSession per
   * connection, each buffering its own replay, over the device's positions). `mine`: messages this
   * user wrote, whose ids are not acknowledged (a DELIVERED watermark at one's own message would
   * claim the others' messages before it); their numbers still move positions.
   */
  constructor(
    saved: Readonly<Record<string, HeldPosition>> | HeldPositions = {},
    private readonly mine: (m: ChatMessage) => boolean = () => false,
  ) {
    this.positions = saved instanceof HeldPositions ? saved : new HeldPositions(saved);
  }

  /** True from `hello` to `resume_complete`. */
  get replaying(): boolean {
    return this.inReplay;
  }

  /**
   * The `hello` fields of a new connection; what it receives until `resume_complete` is its replay.
   * `newestSeen`: newest ids the client kept from before this session, as further hints.
   */
  hello(newestSeen: Readonly<Record<string, string>> = {}): ResumeHello {
    this.inReplay = true;
    this.replay = new Map();
    this.gaps = new Map();
    this.live = [];
    // Ids received on an earlier connection cannot be acknowledged on this one (the server takes
    // only ids it delivered on the connection); the positions travel in resume_after instead.
    this.ackIds = [];
    this.ackHeld.clear();
    const resumeAfter = this.positions.heldThrough();
    const lastSeen: Record<string, string> = {};
    for (const [conversationId, id] of Object.entries(newestSeen)) if (!(conversationId in resumeAfter)) lastSeen[conversationId] = id;
    for (const [conversationId, id] of this.newest) {
      if (!(conversationId in resumeAfter) && id > BigInt(lastSeen[conversationId] ?? '0')) lastSeen[conversationId] = id.toString();
    }
    return { resumeAfter, lastSeen };
  }

  /** A pushed message. */
  message(m: ChatMessage): void {
    this.received(m);
    this.numbered(m);
  }

  /** The numbers of a message this page sent. */
  sent(ack: SendAck): void {
    this.ackHeld.add(ack.conversationId);
    this.numbered(ack);
  }

  /** A page of the replay after `hello`. */
  page(p: HistoryPage): void {
    for (const m of p.messages) this.received(m);
    this.replay.set(p.conversationId, [...(this.replay.get(p.conversationId) ?? []), ...p.messages]);
  }

  /** A `gap` frame of the replay. */
  gap(g: ResumeGap): void {
    this.gaps.set(g.conversationId, g);
  }

  /** `resume_complete`: applies the replay; returns its gaps, for the caller to page forward from. */
  complete(): ResumeGap[] {
    if (!this.inReplay) return [];
    this.inReplay = false;
    const notServed = (conversationId: string): boolean => {
      const g = this.gaps.get(conversationId);
      return g !== undefined && g.reason !== GapReason.GAP_REASON_REPLAY_LIMIT;
    };
    for (const g of this.gaps.values()) {
      if (notServed(g.conversationId) && !this.positions.get(g.conversationId)) this.positions.startAt(g.conversationId, g.afterId);
    }
    for (const [conversationId, messages] of this.replay) {
      if (notServed(conversationId)) for (const m of messages) this.positions.receive(m);
      else this.positions.replayed(conversationId, messages);
    }
    for (const m of this.live) this.positions.receive(m);
    for (const conversationId of [...this.replay.keys(), ...this.gaps.keys()]) this.ackHeld.add(conversationId);
    const gaps = [...this.gaps.values()];
    this.replay = new Map();
    this.gaps = new Map();
    this.live = [];
    return gaps;
  }

  /** A page of history read forwards from `afterId` (paging a gap), oldest first. */
  pagedForward(conversationId: string, afterId: string, messages: readonly ChatMessage[]): void {
    for (const m of messages) this.received(m);
    if (this.positions.get(conversationId)?.messageId === afterId) this.positions.replayed(conversationId, messages);
    else for (const m of messages) this.positions.receive(m);
  }

  /** A page read from the newest end or backwards (opening a conversation, scrolling up); newest first. */
  loaded(messages: readonly ChatMessage[]): void {
    // Oldest first: a conversation without a position starts at the page's oldest message and
    // moves only through the numbers that follow it.
    for (const m of [...messages].sort((a, b) => (BigInt(a.messageId) < BigInt(b.messageId) ? -1 : 1))) {
      this.received(m);
      this.numbered(m);
    }
  }

  /** What to acknowledge now, if anything; nothing until the current replay is over. */
  takeAck(): PendingAck | undefined {
    if (this.inReplay) return undefined;
    const heldThrough = this.positions.heldThrough(this.ackHeld);
    const messageIds = this.ackIds;
    this.ackIds = [];
    this.ackHeld.clear();
    if (messageIds.length === 0 && Object.keys(heldThrough).length === 0) return undefined;
    return { messageIds, heldThrough };
  }

  /** Every held position, to keep across restarts (the constructor takes it back). */
  snapshot(): Record<string, HeldPosition> {
    return this.positions.snapshot();
  }

  /** Conversation id → held message id, for every conversation with a position. */
  heldThrough(): Record<string, string> {
    return this.positions.heldThrough();
  }

  private numbered(m: Numbered): void {
    if (this.inReplay) this.live.push(m);
    else this.positions.receive(m);
  }

  private received(m: ChatMessage): void {
    if (!this.mine(m)) this.ackIds.push(m.messageId);
    this.ackHeld.add(m.conversationId);
    const id = BigInt(m.messageId);
    if (id > (this.newest.get(m.conversationId) ?? 0n)) this.newest.set(m.conversationId, id);
  }
}
