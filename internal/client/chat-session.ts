import { GapReason, type HistoryPage, type HistoryQuery, type ResumeGap, type SendAck, type Welcome } from '../../gen/chat/v1/gateway';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { backoffMs, type BackoffPolicy } from './backoff';
import { ChatClientError } from './chat-client-error';
import type { FrameFormat } from './frame-codec';
import type { HeldPosition } from './held-positions';
import { jwtSubject } from './jwt-subject';
import { ChatClient, type ChatClientEvents } from './portable-chat-client';
import { RecentIds } from './recent-ids';
import { ResumeSession } from './resume-session';
import { TypedEmitter } from './typed-emitter';
import type { WebSocketConstructor } from './web-socket';

/** What a {@link ChatSession} says about its link to the server. */
export type LinkState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open'; welcome: Welcome }
  | { kind: 'waiting'; attempt: number; retryAtMs: number; reason: string; error?: ChatClientError }
  | { kind: 'signed-out'; reason: string }
  | { kind: 'stopped'; error?: ChatClientError };

/** How a message reached the session: pushed live, in the replay after `hello`, or paged from a gap. */
export type MessageSource = 'live' | 'replay' | 'page';

/** Options of a {@link ChatSession}. */
export interface ChatSessionOptions {
  /** The WebSocket endpoint (`ws://host:8080/ws`), or a function asked at every (re)connect. */
  url: string | (() => string);
  /**
   * A JWT whose `sub` is the user id, or a function asked at every (re)connect (`reconnect` false
   * the first time) that may fetch a fresh one. With a fixed token, a token the server refuses or
   * lets expire (close code 4001, or `hello` answered UNAUTHENTICATED) ends the session
   * (`signed-out`); with a function, a 4001 close reconnects with what it returns.
   */
  token: string | ((reconnect: boolean) => string | Promise<string>);
  /** Stable id of this device: the server keeps its position (from acks) under it. */
  deviceId: string;
  /** The WebSocket class. Default `globalThis.WebSocket`; on Node 20 pass the `ws` package's export. */
  WebSocket?: WebSocketConstructor;
  /** Wire form of the frames. Default `binary`. */
  format?: FrameFormat;
  /** Held positions saved from an earlier run (the `positions` event), to resume exactly from them. */
  positions?: Readonly<Record<string, HeldPosition>>;
  /** Newest message ids kept from an earlier run, asked at every `hello`: `last_seen` hints for conversations without a position. */
  lastSeen?: () => Readonly<Record<string, string>>;
  /** Spacing of reconnect attempts. Default 0.5 s doubling to 30 s, ±20 % jitter. */
  backoff?: BackoffPolicy;
  /** A connection that lived this long starts the backoff over. Default 10 000 ms. */
  stableAfterMs?: number;
  /** Retry when the very first connection fails (a browser: yes; a CLI given a wrong address: no). Default true. */
  retryFirstConnect?: boolean;
  /** After a replay gap because history was behind, how long to wait before paging it. Default 1 000 ms. */
  historyBehindRetryMs?: number;
  /** Deadline for opening a connection and receiving `welcome`. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Deadline for each request's answer; a heartbeat without one drops the connection. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** How many recent message ids dedupe remembers. Default 10 000. */
  dedupeCapacity?: number;
}

/**
 * Events of a {@link ChatSession}: those of the open connection's ChatClient that concern the
 * application (presence, typing, receipts, an error frame that answers no request, go_away), and:
 */
export interface ChatSessionEvents extends Pick<ChatClientEvents, 'presence' | 'typing' | 'receipt' | 'receiptSummary' | 'error' | 'goAway'> {
  /** The link changed: connecting, open, waiting to retry, signed out, stopped. */
  state: [state: LinkState];
  /** A connection opened (every reconnect too); its replay follows. Presence watches are per connection: subscribe again here. */
  welcome: [welcome: Welcome];
  /** Messages this session has not emitted before (deduped by id), oldest first within a replay or a page. */
  messages: [messages: ChatMessage[], source: MessageSource];
  /** The connection's replay is over and every gap it named was paged (or failed: `gapNotFilled`). */
  caughtUp: [];
  /** A gap of the replay could not be paged; its position stays, and the next reconnect asks again. */
  gapNotFilled: [gap: ResumeGap, error: Error];
  /** Where this device holds every message moved, and an ack told the server: save it to resume from after a restart. */
  positions: [positions: Record<string, HeldPosition>];
  /** The session ended: by {@link ChatSession.stop} (no error) or for good (the error). */
  stopped: [error?: ChatClientError];
}

/** Errors that a retry cannot fix: WS error frames, and the HTTP codes a token function may throw. */
const FATAL_CODES = new Set([
  'ERROR_CODE_UNAUTHENTICATED',
  'ERROR_CODE_PERMISSION_DENIED',
  'ERROR_CODE_INVALID_ARGUMENT',
  'unauthenticated',
  'permission_denied',
  'invalid_argument',
  'not_found',
]);
const CLOSE_TOKEN_REFUSED = 4001;
const PAGE_LIMIT = 100;

/**
 * A connection that stays up: the one place the client protocol's resume rules live
 * (docs/clients.md "How a client resumes"). It reconnects with capped exponential backoff and
 * jitter, heartbeats (a heartbeat without an answer drops the connection and reconnects), presents
 * its held positions in every `hello` (ResumeSession over HeldPositions), holds the replay back until
 * `resume_complete`, pages every gap forward with `history`, dedupes messages by id, and acknowledges
 * what it received with `held_through` (batched per task), so that a later session of the same
 * device resumes exactly where this one left off. It runs in browsers and in Node (pass `ws` as
 * `WebSocket` on Node 20). {@link run} until {@link stop}.
 */
export class ChatSession extends TypedEmitter<ChatSessionEvents> {
  private readonly resume: ResumeSession;
  private readonly seen: RecentIds;
  private current: ChatClient | undefined;
  /** Identifies the connection being opened or open; frames of an older one are dropped. */
  private generation = 0;
  private userIdOf = '';
  private running = false;
  private stopping = false;
  private ackScheduled = false;
  private wake: (() => void) | undefined;
  private finished: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ChatSessionOptions) {
    super();
    this.resume = new ResumeSession(opts.positions ?? {}, (m) => m.senderId === this.userIdOf);
    this.seen = new RecentIds(opts.dedupeCapacity ?? 10_000);
  }

  /** The user id (the token's `sub`, then the latest `welcome`'s; empty before the first connect). */
  get userId(): string {
    return this.userIdOf;
  }

  /** True while a connection is open (welcomed). */
  get isOpen(): boolean {
    return this.current?.isOpen === true;
  }

  /** The open connection's client, for what the session does not wrap; undefined while there is none. */
  get client(): ChatClient | undefined {
    return this.current?.isOpen ? this.current : undefined;
  }

  /** Every held position (what the `positions` event carries). */
  positions(): Record<string, HeldPosition> {
    return this.resume.snapshot();
  }

  /**
   * Connects, and reconnects whenever the connection drops, until {@link stop}. Resolves once
   * stopped; rejects, with state `signed-out` or `stopped`, with an error a retry cannot fix (a
   * refused token or hello) or, without `retryFirstConnect`, the first connection's failure.
   */
  run(): Promise<void> {
    if (this.running) return Promise.reject(new ChatClientError('failed_precondition', 'the session is running already'));
    this.running = true;
    this.stopping = false;
    this.finished = this.loop().then(
      () => this.end(undefined),
      (err: unknown) => {
        const error = err instanceof ChatClientError ? err : new ChatClientError('internal', String(err), { cause: err });
        this.end(error);
        throw error;
      },
    );
    return this.finished;
  }

  /** Sends the pending acks, closes, and stops reconnecting; resolves once {@link run} has ended. */
  async stop(reason = ''): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const client = this.client;
    if (client) {
      this.flushAcks();
      await client.close(1000, reason);
    }
    await this.finished.catch(() => undefined);
  }

  /** Skips the wait before the next reconnect attempt (the browser came back online, the user asked). */
  retryNow(): void {
    this.wake?.();
  }

  /**
   * Sends a text message; resolves with the server's `send_ack` (its numbers move the held
   * position). Retrying with the same `clientMsgId` is idempotent. Rejects with `unavailable` while
   * there is no connection.
   */
  async send(conversationId: string, text: string, clientMsgId?: string): Promise<SendAck> {
    const ack = await this.open().send(conversationId, text, clientMsgId);
    this.seen.add(ack.messageId);
    this.resume.sent(ack);
    this.scheduleAck();
    return ack;
  }

  /**
   * Reads one page of a conversation (newest first from `beforeId`, or the latest page; or forward
   * from `afterId`, oldest first). What it brings counts toward the held position where it is
   * contiguous. Its messages are returned, not emitted.
   */
  async history(query: Partial<HistoryQuery> & { conversationId: string }): Promise<HistoryPage> {
    const page = await this.open().history(query);
    const afterId = query.afterId ?? '0';
    if (afterId !== '0') this.resume.pagedForward(query.conversationId, afterId, page.messages);
    else this.resume.loaded(page.messages);
    this.scheduleAck();
    return page;
  }

  /** Watches users' presence on this connection (again after every `welcome`); see ChatClient.subscribePresence. */
  subscribePresence(userIds: string[]): Promise<void> {
    return this.open().subscribePresence(userIds);
  }

  /** Tells the other participants this user is typing. Throws `unavailable` without a connection. */
  typing(conversationId: string): void {
    this.open().typing(conversationId);
  }

  /** Marks the conversation read up to `messageId`. Throws `unavailable` without a connection. */
  markRead(conversationId: string, messageId: string): void {
    this.open().markRead(conversationId, messageId);
  }

  private open(): ChatClient {
    const client = this.client;
    if (!client) throw new ChatClientError('unavailable', 'not connected');
    return client;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let connectedOnce = false;
    while (!this.stopping) {
      this.setState({ kind: 'connecting', attempt: failures });
      let closed: Promise<[number, string]>;
      try {
        ({ closed } = await this.connect(connectedOnce));
      } catch (err) {
        if (this.stopping) return;
        const error = err instanceof ChatClientError ? err : new ChatClientError('unavailable', String(err), { cause: err });
        if (FATAL_CODES.has(error.code) || (!connectedOnce && this.opts.retryFirstConnect === false)) throw error;
        failures += 1;
        await this.waitToRetry(failures, failureReason(error), error);
        continue;
      }
      connectedOnce = true;
      const openedAt = Date.now();
      const [code, reason] = await closed;
      if (this.stopping) return;
      if (code === CLOSE_TOKEN_REFUSED && typeof this.opts.token === 'string') {
        throw new ChatClientError('ERROR_CODE_UNAUTHENTICATED', reason || 'your token was refused or expired');
      }
      failures = Date.now() - openedAt >= (this.opts.stableAfterMs ?? 10_000) ? 1 : failures + 1;
      await this.waitToRetry(failures, closeReason(code, reason));
    }
  }

  /** Opens one connection and sets it up; `closed` resolves with its close (code, reason). */
  private async connect(reconnect: boolean): Promise<{ closed: Promise<[number, string]> }> {
    const { token: tokenOf, url: urlOf } = this.opts;
    const token = typeof tokenOf === 'string' ? tokenOf : await tokenOf(reconnect);
    // Whose messages are this user's own (not acked) is needed by the replay, which can arrive
    // before `welcome` is handled: the token says it first.
    this.userIdOf = jwtSubject(token) ?? this.userIdOf;
    const generation = ++this.generation;
    this.current = undefined;
    const live = (): boolean => this.generation === generation;
    let onClose: (closed: [number, string]) => void = () => undefined;
    const closed = new Promise<[number, string]>((resolve) => (onClose = resolve));
    let onReplayed: (gaps: ResumeGap[]) => void = () => undefined;
    const replayed = new Promise<ResumeGap[]>((resolve) => (onReplayed = resolve));
    // Listeners go in before `hello`: the replay follows `welcome` at once, before connect()
    // resolves; acks wait (in `resume`) until the connection is set.
    const client = await ChatClient.connect({
      url: typeof urlOf === 'string' ? urlOf : urlOf(),
      token,
      deviceId: this.opts.deviceId,
      WebSocket: this.opts.WebSocket,
      format: this.opts.format,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      ...this.resume.hello(this.opts.lastSeen?.() ?? {}),
      listeners: {
        message: (m) => {
          if (!live()) return;
          this.resume.message(m);
          this.deliver([m], 'live');
          this.scheduleAck();
        },
        historyPage: (page) => {
          if (!live()) return;
          this.resume.page(page);
          this.deliver(page.messages, 'replay');
        },
        gap: (gap) => live() && this.resume.gap(gap),
        resumeComplete: () => {
          if (!live()) return;
          onReplayed(this.resume.complete());
          this.scheduleAck();
        },
        presence: (p) => live() && this.emit('presence', p),
        typing: (t) => live() && this.emit('typing', t),
        receipt: (r) => live() && this.emit('receipt', r),
        receiptSummary: (r) => live() && this.emit('receiptSummary', r),
        error: (e) => live() && this.emit('error', e),
        goAway: (g) => live() && this.emit('goAway', g),
        close: (code, reason) => onClose([code, reason]),
      },
    });
    if (this.stopping || !live()) {
      await client.close();
      return { closed };
    }
    this.current = client;
    this.userIdOf = client.welcome.userId;
    this.setState({ kind: 'open', welcome: client.welcome });
    this.emit('welcome', client.welcome);
    this.scheduleAck();
    void this.catchUp(client, generation, replayed, closed);
    return { closed };
  }

  /** Once the replay is over, pages forward from every gap it named (after a moment when history was behind). */
  private async catchUp(client: ChatClient, generation: number, replayed: Promise<ResumeGap[]>, closed: Promise<unknown>): Promise<void> {
    const gaps = await Promise.race([replayed, closed.then(() => undefined)]);
    if (gaps === undefined) return;
    if (gaps.some((g) => g.reason === GapReason.GAP_REASON_HISTORY_BEHIND)) {
      const ms = this.opts.historyBehindRetryMs ?? 1_000;
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
    for (const gap of gaps) {
      try {
        await this.pageForward(client, gap.conversationId, gap.afterId);
      } catch (err) {
        if (!client.isOpen) return;
        this.emit('gapNotFilled', gap, err instanceof Error ? err : new Error(String(err)));
      }
    }
    if (this.generation === generation && client.isOpen) this.emit('caughtUp');
  }

  /** Pages a conversation forward from `afterId` to its end, as a gap asks. */
  private async pageForward(client: ChatClient, conversationId: string, afterId: string): Promise<void> {
    let after = afterId;
    for (;;) {
      const page = await client.history({ conversationId, afterId: after, limit: PAGE_LIMIT });
      this.resume.pagedForward(conversationId, after, page.messages);
      this.deliver(page.messages, 'page');
      this.scheduleAck();
      const last = page.messages.at(-1);
      if (!page.hasMore || !last) return;
      after = last.messageId;
    }
  }

  /** Emits the messages not emitted before. */
  private deliver(messages: readonly ChatMessage[], source: MessageSource): void {
    const fresh = messages.filter((m) => this.seen.add(m.messageId));
    if (fresh.length > 0) this.emit('messages', fresh, source);
  }

  /** Acks go out batched, once per task: everything received in one burst of frames in one ack. */
  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    queueMicrotask(() => {
      this.ackScheduled = false;
      this.flushAcks();
    });
  }

  /** Sends what `resume` has to acknowledge (nothing before the connection is set, or during its replay). */
  private flushAcks(): void {
    const client = this.client;
    if (!client) return;
    const ack = this.resume.takeAck();
    if (!ack) return;
    if (Object.keys(ack.heldThrough).length > 0) this.emit('positions', this.resume.snapshot());
    try {
      client.ack(ack.messageIds, ack.heldThrough);
    } catch {
      // Closed meanwhile: ids count only on the connection that delivered them, and the next
      // hello presents the positions.
    }
  }

  private async waitToRetry(attempt: number, reason: string, error?: ChatClientError): Promise<void> {
    const delay = backoffMs(attempt, this.opts.backoff);
    this.setState({ kind: 'waiting', attempt, retryAtMs: Date.now() + delay, reason, ...(error ? { error } : {}) });
    if (this.stopping) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, delay);
      this.wake = done;
    });
  }

  private setState(state: LinkState): void {
    this.emit('state', state);
  }

  private end(error: ChatClientError | undefined): void {
    this.running = false;
    this.current = undefined;
    if (error?.code === 'ERROR_CODE_UNAUTHENTICATED' || error?.code === 'unauthenticated') this.setState({ kind: 'signed-out', reason: error.message });
    else this.setState({ kind: 'stopped', ...(error ? { error } : {}) });
    this.emit('stopped', error);
  }
}

function failureReason(error: ChatClientError): string {
  if (error.code === 'unavailable') return 'the server cannot be reached';
  if (error.code === 'deadline_exceeded') return 'the server did not answer';
  return error.message;
}

function closeReason(code: number, reason: string): string {
  if (reason) return reason;
  if (code === 1006) return 'the connection was lost';
  if (code === 1001 || code === 1012) return 'the server is restarting';
  if (code === 4008) return 'heartbeat missed';
  return `closed (${code})`;
}
