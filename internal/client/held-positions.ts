import type { ChatMessage } from '../../gen/chat/v1/message';

/** What a position needs of a message (a pushed one, a replayed one, or a send_ack). */
export type Numbered = Pick<ChatMessage, 'conversationId' | 'messageId' | 'seq' | 'epoch' | 'createdAt'>;

/** Where a device holds every message of a conversation up to: that message's id and numbers. */
export interface HeldPosition {
  messageId: string;
  seq: string;
  epoch: string;
}

/** Options of {@link HeldPositions}. */
export interface HeldPositionsOptions {
  /**
   * How old (by its Snowflake time, on this device's clock) the message right after a hole in a
   * replayed page must be before the hole counts as one that will never fill. Default 60 000 ms.
   * A hole is a number taken by a send whose append never completed and was never retried; a
   * younger one may still be a send in flight, which arrives live.
   */
  holeTimeoutMs?: number;
  now?: () => number;
}

interface Tracked {
  held: HeldPosition;
  /** Received past a missing number: key `${epoch}/${seq}`. */
  ahead: Map<string, Numbered>;
}

const DEFAULT_HOLE_TIMEOUT_MS = 60_000;

/**
 * A device's exact resume positions: per conversation, the message up to which it holds every
 * message, from the `seq` numbers of what it receives (docs/GUARANTEES.md "Resume").
 *
 * - A live message or a send_ack numbered right after the held one moves it; one further on waits
 *   in `ahead` until the numbers between arrive (the slower path, a server that died before
 *   pushing them, a fallback held back). The held id is what `hello.resume_after` and
 *   `ack.held_through` name, so a resume replays exactly from the first missing number.
 * - A page the server replayed "after the held id" (a resume, or history paged forward from it)
 *   holds every message in that range that history has: it moves the position through the
 *   numbers it makes contiguous, and across the start of a new epoch (seq 1). It does not jump a
 *   hole unless the message after it is older than `holeTimeoutMs`.
 * - The first numbered message of a conversation the device has no position in starts it there.
 * - Unnumbered messages (seq 0) are not tracked: for those conversations a client sends the
 *   newest id it saw as `last_seen`, a hint the server rewinds.
 */
export class HeldPositions {
  private readonly tracked = new Map<string, Tracked>();
  private readonly holeTimeoutMs: number;
  private readonly now: () => number;

  constructor(initial: Readonly<Record<string, HeldPosition>> = {}, opts: HeldPositionsOptions = {}) {
    this.holeTimeoutMs = opts.holeTimeoutMs ?? DEFAULT_HOLE_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
    for (const [conversationId, held] of Object.entries(initial)) this.tracked.set(conversationId, { held: { ...held }, ahead: new Map() });
  }

  /**
   * The device holds every message of the conversation before `messageId` and none after (a
   * conversation it has followed from its start, or a floor it paged back to): a resume replays
   * everything after that id, and the next message to hold is the first one after it, seq 1 live
   * or whatever a replay from there begins with.
   */
  startAt(conversationId: string, messageId: string): void {
    this.tracked.set(conversationId, { held: { messageId, seq: '0', epoch: '0' }, ahead: new Map() });
  }

  /** A message received live, or the numbers of a send_ack. True when the held position moved. */
  receive(m: Numbered): boolean {
    if (m.seq === '0' || m.seq === '') return false;
    const t = this.tracked.get(m.conversationId);
    if (!t) {
      this.tracked.set(m.conversationId, { held: position(m), ahead: new Map() });
      return true;
    }
    if (covered(t.held, m)) return false;
    t.ahead.set(aheadKey(m.epoch, BigInt(m.seq)), m);
    return this.advance(t);
  }

  /**
   * Messages the server replayed after this device's held id in one conversation, oldest first
   * (a resume page it did not follow with HISTORY_BEHIND, or a history page read forwards from the
   * held id). True when the held position moved.
   */
  replayed(conversationId: string, messages: readonly Numbered[]): boolean {
    let t = this.tracked.get(conversationId);
    let moved = false;
    for (const m of messages) {
      if (m.seq === '0' || m.seq === '') continue;
      if (!t) {
        this.tracked.set(conversationId, (t = { held: position(m), ahead: new Map() }));
        moved = true;
        continue;
      }
      if (covered(t.held, m)) continue;
      // From a start (seq 0) the page's first message is the first after it, whatever its number.
      const next = t.held.seq === '0' || follows(t.held, m) || (BigInt(m.epoch) > BigInt(t.held.epoch) && m.seq === '1');
      if (next || this.stale(m)) {
        t.held = position(m);
        moved = true;
      } else {
        t.ahead.set(aheadKey(m.epoch, BigInt(m.seq)), m);
      }
    }
    if (t) moved = this.advance(t) || moved;
    return moved;
  }

  /** The held position of a conversation, if any. */
  get(conversationId: string): HeldPosition | undefined {
    return this.tracked.get(conversationId)?.held;
  }

  /** Conversation id → held message id: `hello.resume_after` and `ack.held_through`. */
  heldThrough(conversationIds?: Iterable<string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const id of conversationIds ?? this.tracked.keys()) {
      const t = this.tracked.get(id);
      if (t) out[id] = t.held.messageId;
    }
    return out;
  }

  /** Every held position, to keep across restarts (the constructor takes it back). */
  snapshot(): Record<string, HeldPosition> {
    const out: Record<string, HeldPosition> = {};
    for (const [id, t] of this.tracked) out[id] = { ...t.held };
    return out;
  }

  /**
   * The first run of missing numbers of a conversation, to fill it from history and nothing more:
   * page forwards after `afterId` for `count` messages (0: the count is not known, the next
   * message held being in a later epoch; page to the end). Undefined when nothing is missing.
   */
  firstHole(conversationId: string): { afterId: string; count: number } | undefined {
    const t = this.tracked.get(conversationId);
    if (!t || t.ahead.size === 0) return undefined;
    const start = t.held.seq === '0';
    let next: bigint | undefined;
    for (const m of t.ahead.values()) {
      if (!start && m.epoch !== t.held.epoch) continue;
      const seq = BigInt(m.seq);
      if (next === undefined || seq < next) next = seq;
    }
    const count = next === undefined ? 0 : Number(next - (start ? 0n : BigInt(t.held.seq)) - 1n);
    return { afterId: t.held.messageId, count };
  }

  /** Conversations with messages received past a missing number. */
  withGaps(): string[] {
    return [...this.tracked].filter(([, t]) => t.ahead.size > 0).map(([id]) => id);
  }

  private advance(t: Tracked): boolean {
    let moved = false;
    for (;;) {
      const next = t.held.seq === '0' ? [...t.ahead.values()].find((m) => m.seq === '1') : t.ahead.get(aheadKey(t.held.epoch, BigInt(t.held.seq) + 1n));
      if (!next) break;
      t.ahead.delete(aheadKey(next.epoch, BigInt(next.seq)));
      t.held = position(next);
      moved = true;
    }
    for (const [key, m] of t.ahead) if (covered(t.held, m)) t.ahead.delete(key);
    return moved;
  }

  private stale(m: Numbered): boolean {
    return m.createdAt !== undefined && this.now() - m.createdAt.getTime() > this.holeTimeoutMs;
  }
}

function position(m: Numbered): HeldPosition {
  return { messageId: m.messageId, seq: m.seq, epoch: m.epoch };
}

function aheadKey(epoch: string, seq: bigint): string {
  return `${epoch}/${seq}`;
}

/** Whether the held position already covers `m` (an older epoch, or a number at or below it); a start covers nothing. */
function covered(held: HeldPosition, m: Numbered): boolean {
  if (held.seq === '0') return false;
  const e = BigInt(m.epoch);
  const he = BigInt(held.epoch);
  return e < he || (e === he && BigInt(m.seq) <= BigInt(held.seq));
}

function follows(held: HeldPosition, m: Numbered): boolean {
  return m.epoch === held.epoch && BigInt(m.seq) === BigInt(held.seq) + 1n;
}
