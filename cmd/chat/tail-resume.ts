import { GapReason, type HistoryPage, type ResumeGap } from '../../gen/chat/v1/gateway';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { HeldPositions } from '../../internal/client/held-positions';

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
 * The resume bookkeeping of one `chat tail` run, one connection at a time: where it holds every
 * message of each conversation (a {@link HeldPositions}, from the `seq` numbers of what it
 * receives), what each `hello` presents, and what to acknowledge. It prints nothing and sends
 * nothing; `Tail` feeds it every frame and sends what {@link takeAck} returns.
 *
 * The rules (docs/clients.md "How a client resumes"):
 * - `hello` presents the held positions as `resume_after`, and, for conversations without one
 *   (only unnumbered messages so far), the newest id received as `last_seen`, a hint.
 * - A replay's pages move positions at `resume_complete`, all at once (`replayed`), unless a gap
 *   other than REPLAY_LIMIT named the conversation: history may have lacked a message there, so
 *   only contiguous numbers count (`receive`).
 * - A conversation such a gap names that this run has no position in starts at the gap's
 *   `after_id` (where the server resumed it from): nothing after it counts as held until a page
 *   read forwards from there arrives.
 * - Live messages that arrive during the replay count at its end: received first, one of a
 *   conversation without a position would start it past what the replay still brings.
 * - A page read forwards from the held id (paging a gap) moves it like a replay; a page read from
 *   elsewhere counts only its contiguous numbers.
 * - Acks wait for the end of the replay too, and name `held_through` for every conversation they
 *   touch that has a position: without it the server would save the newest acked id as a hint,
 *   replacing its exact position.
 */
export class TailResume {
  private readonly positions: HeldPositions;
  /** Per conversation, the newest id received: the `last_seen` hint where there is no position. */
  private readonly newest = new Map<string, bigint>();
  /** Ids received on the current connection, not acknowledged yet. */
  private ackIds: string[] = [];
  /** Conversations whose held position the next ack names. */
  private readonly ackHeld = new Set<string>();
  /** True from `hello` to `resume_complete`. */
  private replaying = false;
  private replay = new Map<string, ChatMessage[]>();
  private gaps = new Map<string, ResumeGap>();
  private live: ChatMessage[] = [];

  constructor(positions: HeldPositions = new HeldPositions()) {
    this.positions = positions;
  }

  /** The `hello` fields of a new connection; what it receives until `resume_complete` is its replay. */
  hello(): ResumeHello {
    this.replaying = true;
    this.replay = new Map();
    this.gaps = new Map();
    this.live = [];
    // Ids received on an earlier connection cannot be acknowledged on this one (the server takes
    // only ids it delivered on the connection); the positions travel in resume_after instead.
    this.ackIds = [];
    this.ackHeld.clear();
    const resumeAfter = this.positions.heldThrough();
    const lastSeen: Record<string, string> = {};
    for (const [conversationId, id] of this.newest) if (!(conversationId in resumeAfter)) lastSeen[conversationId] = id.toString();
    return { resumeAfter, lastSeen };
  }

  /** A pushed message. */
  message(m: ChatMessage): void {
    this.received(m);
    if (this.replaying) this.live.push(m);
    else this.positions.receive(m);
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
    if (!this.replaying) return [];
    this.replaying = false;
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

  /** What to acknowledge now, if anything; nothing until the current replay is over. */
  takeAck(): PendingAck | undefined {
    if (this.replaying) return undefined;
    const heldThrough = this.positions.heldThrough(this.ackHeld);
    const messageIds = this.ackIds;
    this.ackIds = [];
    this.ackHeld.clear();
    if (messageIds.length === 0 && Object.keys(heldThrough).length === 0) return undefined;
    return { messageIds, heldThrough };
  }

  /** The held position of every conversation (for tests and diagnostics). */
  heldThrough(): Record<string, string> {
    return this.positions.heldThrough();
  }

  private received(m: ChatMessage): void {
    this.ackIds.push(m.messageId);
    this.ackHeld.add(m.conversationId);
    const id = BigInt(m.messageId);
    if (id > (this.newest.get(m.conversationId) ?? 0n)) this.newest.set(m.conversationId, id);
  }
}
