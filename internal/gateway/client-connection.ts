import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ErrorCode } from '../../gen/chat/v1/errors';
import type { ConnectRequest, ConnectResponse, Hello, HistoryQuery, RefreshToken, Send, SubscribePresence } from '../../gen/chat/v1/gateway';
import type { ChatMessage, UserPresence } from '../../gen/chat/v1/message';
import type { Principal } from '../auth/principal';
import { parseCursor } from '../chat/page-query';
import { assertUserId, parseConversationId } from '../conversation/conversation-id';
import { ChatError } from '../errors/chat-error';
import type { RegisteredConnection } from './connection-registry';
import type { Registrant } from './server-lease';
import { DeliveredIds } from './delivered-ids';
import type { GatewayContext } from './gateway-context';
import { TokenBucket, type KeyedTokenBuckets } from './rate-limiter';
import { resumeConversations } from './resume';
import type { ResumeSlots } from './resume-slots';
import type { Connection } from '../../gen/chat/v1/session';
import { sessionIdFor } from '../session/session-store';

/** Why the server ends a connection; transports map these to WS close codes / gRPC statuses. */
export type CloseCause = 'unauthenticated' | 'protocol' | 'timeout' | 'slow_consumer' | 'going_away' | 'limit';

/** What every connection of one server shares (the Gateway's); each part is optional in tests. */
export interface ConnectionShared {
  /** Sends per user over all its connections here. */
  userSends?: KeyedTokenBuckets;
  /** Resume replays reading history at once, over all connections. */
  resumeSlots?: ResumeSlots;
}

/** The transport side of a connection: it encodes frames in the client's format. */
export interface FrameSink {
  send(frame: ConnectResponse): void;
  close(cause: CloseCause, reason: string): void;
}

const DEVICE_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
const PROTOCOL_ERRORS = new Set([ErrorCode.ERROR_CODE_MALFORMED_FRAME, ErrorCode.ERROR_CODE_UNKNOWN_FRAME, ErrorCode.ERROR_CODE_PROTOCOL_VIOLATION]);
/** Where each connection's frame chains start: shared, so an idle connection allocates none. */
const SETTLED: Promise<void> = Promise.resolve();
const NOTHING_WATCHED: ReadonlySet<string> = new Set();
/**
 * Unacked deliveries a connection remembers (to map an ack's ids to conversations). Clients ack
 * within about a second; one that does not costs at most this many entries (about 100 KB), not
 * memory growing with every message of its groups.
 */
const DELIVERED_IDS_KEPT = 2048;

/**
 * One device connection, transport-free (WebSocket and gRPC share it). Frames are handled one at a
 * time in arrival order, so a client's sends are stored in the order it sent them. Every failure
 * becomes an `error` frame; the connection is closed only for authentication, repeated protocol
 * violations, a lapsed heartbeat, an expired token or a slow reader.
 */
export class ClientConnection implements RegisteredConnection, Registrant {
  userId = '';
  sessionId = '';
  private deviceId = '';
  private principal?: Principal;
  private state: 'new' | 'open' | 'closed' = 'new';
  private chain = SETTLED;
  private protocolErrors = 0;
  // Idle connections are most connections: what only some of them need is created on first use.
  private sendBucket?: TokenBucket;
  private typingBucket?: TokenBucket;
  private watchedUsers?: Set<string>;
  private deliveredIds?: DeliveredIds;
  private logger?: Logger;
  /** Last hello or heartbeat: presence is kept by heartbeats only, so liveness is too. */
  lastBeatAtMs: number;
  // Deadlines are checked by the gateway's sweep (checkDeadlines), not by a timer per connection:
  // two timers were a fifth of an idle connection's heap.
  private readonly helloDueAtMs: number;
  private expiresAtMs?: number;
  private presenceChain = SETTLED;
  /**
   * This connection's registrations and its unregistration, in order: a registration again after
   * a lapsed lease that raced the close would otherwise land after the unregistration and leave
   * a closed connection registered.
   */
  private sessionOps = SETTLED;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly sink: FrameSink,
    /** A token from the transport (gRPC metadata), used when `hello` carries none. */
    private readonly transportToken = '',
    /** What all connections of this server share: sends per user, resume slots. */
    private readonly shared: ConnectionShared = {},
  ) {
    this.lastBeatAtMs = ctx.now();
    this.helloDueAtMs = this.lastBeatAtMs + ctx.limits.handshakeTimeoutMs;
  }

  /**
   * Closes the connection if a deadline has passed: no hello within the handshake timeout (a
   * socket that never says hello holds a file descriptor for nothing), no heartbeat within the
   * presence TTL, or the token expired. Called by the gateway's sweep, so a deadline is enforced
   * up to one sweep interval late.
   */
  checkDeadlines(nowMs: number): void {
    if (this.state === 'new' && nowMs >= this.helloDueAtMs) this.sink.close('timeout', `no hello within ${this.ctx.limits.handshakeTimeoutMs} ms`);
    else if (this.lastBeatAtMs < nowMs - this.ctx.limits.presenceTtlMs) this.shutdown('timeout', 'no heartbeat within the presence TTL');
    else if (this.state === 'open' && this.expiresAtMs !== undefined && nowMs >= this.expiresAtMs) {
      this.expiresAtMs = undefined;
      void this.fail(ChatError.unauthenticated('token expired'), '');
    }
  }

  /** This connection's logger, made when first needed (most connections never log). */
  private get log(): Logger {
    return (this.logger ??= this.ctx.log.child({ conn: this.sessionId || randomUUID().slice(0, 8) }));
  }

  private get watched(): ReadonlySet<string> {
    return this.watchedUsers ?? NOTHING_WATCHED;
  }

  private get delivered(): DeliveredIds {
    return (this.deliveredIds ??= new DeliveredIds(DELIVERED_IDS_KEPT));
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /**
   * A decoded client frame, queued behind the frames before it. A heartbeat counts as liveness
   * when it arrives, not when its turn comes: frames queued behind a slow call (a session service
   * seconds behind under a reconnect storm) must not get a live client closed for silence.
   */
  receive(frame: ConnectRequest): void {
    if (frame.frame?.$case === 'heartbeat') this.lastBeatAtMs = this.ctx.now();
    this.chain = this.chain.then(() => this.handle(frame));
  }

  /** A frame that could not be decoded (or was too large): answered in order, counted. */
  reject(err: ChatError): void {
    this.chain = this.chain.then(() => this.fail(err, ''));
  }

  /** The transport is gone: forget the session. Safe to call more than once. */
  async closed(): Promise<void> {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    if (!wasOpen) return;
    this.ctx.registry.remove(this, this.watched);
    // Its acks are already with the server's AckBatcher, which writes them with the next flush.
    await this.sessionOp(() => this.ctx.sessions.unregister(this.sessionId)).catch((err: unknown) => this.log.warn({ err }, 'unregister failed'));
  }

  /** Runs a session-service call of this connection after the ones before it. */
  private sessionOp<T>(op: () => Promise<T>): Promise<T> {
    const next = this.sessionOps.then(op);
    this.sessionOps = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  /** Ends the connection from the server side. */
  shutdown(cause: CloseCause, reason: string, goAway = false): void {
    if (goAway) this.push({ requestId: '', frame: { $case: 'goAway', value: { reason } } });
    this.sink.close(cause, reason);
  }

  /** Pushes a message unless this connection was already sent it (and has not acked it since). */
  pushMessage(message: ChatMessage): void {
    if (this.delivered.remember(message.messageId, message.conversationId)) this.push(messageFrame(message));
  }

  /**
   * Pushes a watched user's presence change if the two still share a conversation (a watch does
   * not outlive leaving the group they shared); otherwise drops the watch. Changes are rare (only
   * transitions), so the check is per change, chained to keep their order.
   */
  pushPresence(p: UserPresence): void {
    this.presenceChain = this.presenceChain.then(async () => {
      if (this.isClosed() || !this.watched.has(p.userId)) return;
      let visible: boolean;
      try {
        visible = await this.ctx.access.canSeePresence(this.userId, p.userId);
      } catch (err) {
        this.log.warn({ err }, 'presence visibility check failed; change not pushed');
        return;
      }
      if (!visible) return this.unwatch(p.userId);
      this.push({ requestId: '', frame: { $case: 'presence', value: { userId: p.userId, status: p.status, lastSeen: p.lastSeen } } });
    });
  }

  pushEphemeral(frame: ConnectResponse): void {
    if (this.state === 'open') this.sink.send(frame);
  }

  private unwatch(userId: string): void {
    this.watchedUsers?.delete(userId);
    this.ctx.registry.unwatch(this, userId);
  }

  private push(frame: ConnectResponse): void {
    if (this.state !== 'closed') this.sink.send(frame);
  }

  private async handle(req: ConnectRequest): Promise<void> {
    if (this.state === 'closed') return;
    const { requestId, frame } = req;
    try {
      if (!frame) throw new ChatError(ErrorCode.ERROR_CODE_UNKNOWN_FRAME, 'frame has no known case');
      if (frame.$case === 'hello') return await this.hello(requestId, frame.value);
      if (this.state !== 'open') throw new ChatError(ErrorCode.ERROR_CODE_PROTOCOL_VIOLATION, 'the first frame must be hello');
      switch (frame.$case) {
        case 'send':
          return await this.send(requestId, frame.value);
        case 'ack':
          return this.ack(frame.value.messageIds, frame.value.heldThrough);
        case 'heartbeat':
          return this.heartbeat(requestId);
        case 'subscribePresence':
          return await this.subscribePresence(requestId, frame.value);
        case 'history':
          return await this.history(requestId, frame.value);
        case 'typing':
          return await this.typing(frame.value.conversationId);
        case 'read':
          return await this.ctx.receipts.read(this.principal!, frame.value.conversationId, frame.value.messageId, this.sessionId);
        case 'refreshToken':
          return await this.refreshToken(requestId, frame.value);
      }
    } catch (err) {
      await this.fail(ChatError.from(err), requestId);
    }
  }

  private async hello(requestId: string, hello: Hello): Promise<void> {
    if (this.state !== 'new') throw new ChatError(ErrorCode.ERROR_CODE_PROTOCOL_VIOLATION, 'hello was already received');
    const principal = await this.ctx.verifier.verify(hello.token || this.transportToken);
    if (principal.kind !== 'user') throw ChatError.unauthenticated('client connections need a user token');
    if (!DEVICE_ID.test(hello.deviceId)) throw ChatError.invalidArgument('device_id must be 1-128 characters of [A-Za-z0-9_.:@-]');
    this.principal = withoutToken(principal);
    this.userId = principal.id;
    this.deviceId = hello.deviceId;
    this.sessionId = sessionIdFor(this.ctx.serverId, randomUUID());
    await this.sessionOp(() => this.ctx.sessions.register(this.registration()));
    if (this.isClosed()) {
      // The socket went away while we were registering: undo, or presence would linger.
      await this.sessionOp(() => this.ctx.sessions.unregister(this.sessionId));
      return;
    }
    this.state = 'open';
    this.lastBeatAtMs = this.ctx.now();
    this.expiresAtMs = principal.expiresAtMs;
    // Registered for live delivery before reading history, so nothing falls between the two;
    // a message may arrive both ways and clients dedupe by message id.
    this.ctx.registry.add(this);
    this.push({
      requestId,
      frame: { $case: 'welcome', value: { userId: this.userId, sessionId: this.sessionId, serverId: this.ctx.serverId, heartbeatIntervalMs: this.ctx.limits.heartbeatIntervalMs } },
    });
    if (this.ctx.log.isLevelEnabled('debug')) this.log.debug({ userId: this.userId, deviceId: this.deviceId }, 'connection open');
    const resume = () => resumeConversations(
      { ctx: this.ctx, principal, deviceId: this.deviceId, lastSeen: hello.lastSeen, resumeAfter: hello.resumeAfter },
      {
        page: (page) => {
          // What reached this connection live since it registered is not sent again.
          const fresh = page.messages.filter((m) => this.delivered.remember(m.messageId, m.conversationId));
          if (fresh.length > 0 || page.hasMore) this.push({ requestId, frame: { $case: 'historyPage', value: { ...page, messages: fresh } } });
        },
        gap: (gap) => this.push({ requestId, frame: { $case: 'gap', value: gap } }),
        error: (err) => this.push(errorFrame(err, requestId)),
        complete: (done) => this.push({ requestId, frame: { $case: 'resumeComplete', value: done } }),
      },
    );
    // A connection that closed while it waited for a slot needs no replay.
    const replay = () => (this.isClosed() ? Promise.resolve() : resume());
    await (this.shared.resumeSlots ? this.shared.resumeSlots.run(replay) : replay());
  }

  private async send(requestId: string, send: Send): Promise<void> {
    if (!(this.sendBucket ??= new TokenBucket(this.ctx.limits.sendRatePerSec, this.ctx.limits.sendBurst, this.ctx.now)).tryTake()) {
      throw new ChatError(ErrorCode.ERROR_CODE_RATE_LIMITED, `more than ${this.ctx.limits.sendRatePerSec} sends per second; retry with the same client_msg_id`);
    }
    if (this.shared.userSends && !this.shared.userSends.tryTake(this.userId)) {
      throw new ChatError(ErrorCode.ERROR_CODE_RATE_LIMITED, 'too many sends per second from this user over all its connections; retry with the same client_msg_id');
    }
    const ack = await this.ctx.messages.send(this.principal!, send, this.sessionId);
    this.push({ requestId, frame: { $case: 'sendAck', value: ack } });
  }

  /**
   * Acks go to the server's AckBatcher, which writes the device's positions and the user's
   * DELIVERED watermarks with those of every other connection, once per CHAT_ACK_FLUSH_MS (so
   * receipts are at most about that much behind).
   */
  private ack(messageIds: readonly string[], heldThrough: Readonly<Record<string, string>>): void {
    const upTo = new Map<string, bigint>();
    for (const id of messageIds) {
      const conversationId = this.deliveredIds?.take(id);
      if (conversationId === undefined) continue; // not delivered on this connection: nothing to advance
      const n = BigInt(id);
      if ((upTo.get(conversationId) ?? 0n) < n) upTo.set(conversationId, n);
    }
    const held = new Map<string, bigint>();
    let bad: ChatError | undefined;
    for (const [conversationId, id] of Object.entries(heldThrough)) {
      try {
        parseConversationId(conversationId);
        const position = parseCursor(id, `held_through[${conversationId}]`);
        if (position !== undefined) held.set(conversationId, position);
      } catch (err) {
        bad ??= ChatError.from(err);
      }
    }
    this.ctx.acks.add(this.userId, this.deviceId, upTo, held);
    // A bad entry is answered with its reason (an error frame); the rest of the ack counted.
    if (bad !== undefined) throw bad;
  }

  private async typing(conversationId: string): Promise<void> {
    if (!(this.typingBucket ??= new TokenBucket(this.ctx.limits.typingRatePerSec, this.ctx.limits.typingRatePerSec * 2, this.ctx.now)).tryTake()) {
      throw new ChatError(ErrorCode.ERROR_CODE_RATE_LIMITED, `more than ${this.ctx.limits.typingRatePerSec} typing frames per second`);
    }
    await this.ctx.typing.typing(this.principal!, conversationId, this.sessionId);
  }

  /**
   * A new token for the same user: the connection then lives until it expires. A token of another
   * user is refused (PERMISSION_DENIED) and the old one stays in force; an invalid one closes the
   * connection like a bad hello.
   */
  private async refreshToken(requestId: string, refresh: RefreshToken): Promise<void> {
    const principal = await this.ctx.verifier.verify(refresh.token);
    if (principal.kind !== 'user' || principal.id !== this.userId) throw ChatError.permissionDenied('the new token must name the same user as the connection');
    this.principal = withoutToken(principal);
    this.expiresAtMs = principal.expiresAtMs;
    const expiresAt = principal.expiresAtMs !== undefined ? new Date(principal.expiresAtMs) : undefined;
    this.push({ requestId, frame: { $case: 'tokenRefreshed', value: { expiresAt } } });
  }

  /** Liveness stays on this server (lastBeatAtMs, checked by the sweep): a heartbeat costs no call. */
  private heartbeat(requestId: string): void {
    this.lastBeatAtMs = this.ctx.now();
    this.push({ requestId, frame: { $case: 'pong', value: { serverTime: new Date(this.ctx.now()) } } });
  }

  /**
   * Registers this connection again, after the server's lease lapsed. A connection still in its
   * hello registers too: its first registration may have landed under the lapsed lease. Refused
   * (the user is at its connection limit meanwhile): closed. False when the session service was
   * unavailable, to be retried.
   */
  reregister(): Promise<boolean> {
    if (!this.sessionId) return Promise.resolve(true);
    return this.sessionOp(async () => {
      if (this.isClosed()) return true;
      try {
        await this.ctx.sessions.register(this.registration());
        return true;
      } catch (err) {
        if (err instanceof ChatError && err.code !== ErrorCode.ERROR_CODE_UNAVAILABLE && err.code !== ErrorCode.ERROR_CODE_INTERNAL) {
          this.shutdown('limit', `registration refused: ${err.message}`, true);
          return true;
        }
        this.log.warn({ err }, 'registering again failed; retried at the next lease renewal');
        return false;
      }
    });
  }

  private registration(): Connection {
    return { userId: this.userId, deviceId: this.deviceId, sessionId: this.sessionId, serverId: this.ctx.serverId, serverAddress: this.ctx.serverAddress };
  }

  private async subscribePresence(requestId: string, sub: SubscribePresence): Promise<void> {
    const wanted = [...new Set(sub.userIds.map((u) => assertUserId(u)))].filter((u) => !this.watched.has(u));
    const max = this.ctx.limits.maxPresenceSubscriptions;
    if (this.watched.size + wanted.length > max) {
      throw ChatError.limitExceeded(`a connection watches at most ${max} users (watching ${this.watched.size}, asked for ${wanted.length} more)`);
    }
    const visible = await this.ctx.access.visiblePresences(this.userId, wanted);
    const allowed = wanted.filter((u) => visible.has(u));
    const denied = wanted.filter((u) => !visible.has(u));
    for (const u of allowed) {
      (this.watchedUsers ??= new Set()).add(u);
      this.ctx.registry.watch(this, u);
    }
    // The session service sends this server the changes of a user only once it has the server's
    // watch: the snapshot is read after that, so no change falls between the two (one may come
    // both ways; presence is state, a repeat changes nothing for the client).
    if (allowed.length > 0) {
      await this.ctx.presenceWatches.add(allowed).catch((err: unknown) => {
        for (const u of allowed) this.unwatch(u);
        throw err;
      });
    }
    for (const p of await this.ctx.sessions.presence(allowed)) {
      this.push({ requestId, frame: { $case: 'presence', value: { userId: p.userId, status: p.status, lastSeen: p.lastSeen } } });
    }
    if (denied.length > 0) throw ChatError.permissionDenied(`no shared conversation with: ${denied.join(', ')}`);
  }

  private async history(requestId: string, q: HistoryQuery): Promise<void> {
    const page = await this.ctx.history.history(this.principal!, q);
    for (const m of page.messages) this.delivered.remember(m.messageId, m.conversationId);
    this.push({ requestId, frame: { $case: 'historyPage', value: { conversationId: q.conversationId, messages: page.messages, hasMore: page.hasMore } } });
  }

  private fail(err: ChatError, requestId: string): Promise<void> {
    if (err.code === ErrorCode.ERROR_CODE_INTERNAL) this.log.error({ err: err.cause ?? err }, 'frame failed');
    this.push(errorFrame(err, requestId));
    if (err.code === ErrorCode.ERROR_CODE_UNAUTHENTICATED || (err.code === ErrorCode.ERROR_CODE_LIMIT_EXCEEDED && this.state === 'new')) {
      this.sink.close(err.code === ErrorCode.ERROR_CODE_UNAUTHENTICATED ? 'unauthenticated' : 'limit', err.message);
    } else if (PROTOCOL_ERRORS.has(err.code) && ++this.protocolErrors > this.ctx.limits.maxProtocolErrors) {
      this.sink.close('protocol', `more than ${this.ctx.limits.maxProtocolErrors} protocol errors`);
    }
    return Promise.resolve();
  }
}

/** One frame object per delivered message, shared by all its recipients (so it is encoded once). */
const messageFrames = new WeakMap<ChatMessage, ConnectResponse>();
function messageFrame(message: ChatMessage): ConnectResponse {
  let frame = messageFrames.get(message);
  if (!frame) messageFrames.set(message, (frame = { requestId: '', frame: { $case: 'message', value: message } }));
  return frame;
}

/** The connection keeps who it is, not the bearer token (about 200 bytes per connection). */
function withoutToken({ kind, id, expiresAtMs }: Principal): Principal {
  return { kind, id, expiresAtMs };
}

function errorFrame(err: ChatError, requestId: string): ConnectResponse {
  return { requestId, frame: { $case: 'error', value: { code: err.code, message: err.message, requestId } } };
}
