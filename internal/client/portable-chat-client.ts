import { errorCodeToJSON } from '../../gen/chat/v1/errors';
import type {
  ConnectRequest,
  ConnectResponse,
  ErrorFrame,
  GoAway,
  HistoryPage,
  HistoryQuery,
  Pong,
  PresenceEvent,
  ResumeComplete,
  ResumeGap,
  SendAck,
  TokenRefreshed,
  Welcome,
} from '../../gen/chat/v1/gateway';
import type { ChatMessage, Receipt, ReceiptSummary, TypingEvent } from '../../gen/chat/v1/message';
import { ChatClientError } from './chat-client-error';
import { decodeResponse, encodeRequest, type FrameFormat } from './frame-codec';
import { PushedFrameBuffer, type FrameMatcher } from './pushed-frame-buffer';
import { TypedEmitter } from './typed-emitter';
import { resolveWebSocket, SocketState, type SocketEvent, type WebSocketConstructor, type WebSocketLike } from './web-socket';

/** Options of {@link ChatClient.connect}. */
export interface ChatClientOptions {
  /** The WebSocket endpoint, e.g. `ws://127.0.0.1:8080/ws`. */
  url: string;
  /** A JWT whose `sub` is the user id. */
  token: string;
  /** Stable id of this device; reconnecting with the same id resumes where it left off. */
  deviceId: string;
  /**
   * The WebSocket class. Default `globalThis.WebSocket` (browsers, Node 22+); on Node 20 pass the
   * `ws` package's export (see {@link WebSocketConstructor} for headers or a local address).
   */
  WebSocket?: WebSocketConstructor;
  /** Wire form of every frame this client sends. Default `binary`. */
  format?: FrameFormat;
  /** Per conversation, the newest message id this device has seen (sent in `hello`; a hint the server rewinds). */
  lastSeen?: Record<string, string>;
  /** Per conversation, the id up to which this device holds every message (`hello.resume_after`; see HeldPositions). */
  resumeAfter?: Record<string, string>;
  /** Send `heartbeat` every `welcome.heartbeatIntervalMs`. Default true. */
  autoHeartbeat?: boolean;
  /** Deadline for opening the socket and receiving `welcome`. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Deadline for the answer to each request (send, history, heartbeat, ...). Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** How many recent pushed frames {@link ChatClient.waitFor} can look back on. Default 1 000. */
  pushedBufferSize?: number;
  /**
   * Listeners attached before the socket opens. Frames pushed right behind `welcome` (the resume
   * replay) can be emitted before the caller's `await connect(...)` continues; listeners given here
   * see them. (They are also in the buffer: see {@link ChatClient.pushedFrames}.)
   */
  listeners?: ChatClientListeners;
}

/** One optional listener per event of {@link ChatClientEvents}. */
export type ChatClientListeners = { [K in keyof ChatClientEvents]?: (...args: ChatClientEvents[K]) => void };

/** Events of a {@link ChatClient}. Frames that answer a request are not emitted; they settle it. */
export interface ChatClientEvents {
  /** A new message in one of the user's conversations. */
  message: [message: ChatMessage];
  /** A watched user's presence. */
  presence: [event: PresenceEvent];
  /** A participant of one of the user's conversations is typing. */
  typing: [event: TypingEvent];
  /** A user's DELIVERED or READ watermark moved (a DM peer's, or this user's from another device). */
  receipt: [receipt: Receipt];
  /** In a group, how many members have read up to a message. */
  receiptSummary: [summary: ReceiptSummary];
  /** A page the server pushed unasked: the replay of missed messages after `hello`. */
  historyPage: [page: HistoryPage];
  /** Part of the replay: a conversation whose missed messages were not all replayed; page on from `afterId`. */
  gap: [gap: ResumeGap];
  /** The replay after `hello` is over: every page and gap was sent. */
  resumeComplete: [done: ResumeComplete];
  /**
   * An error frame that answers no pending request (e.g. a bad `sendRaw` frame, a failed `ack`).
   * Emitted only while someone listens, so an unhandled one never throws; it is buffered either way.
   */
  error: [frame: ErrorFrame];
  /** The server is going away; reconnect after a short backoff. */
  goAway: [frame: GoAway];
  /** A server frame could not be decoded (a server bug); the frame is dropped. */
  decodeError: [err: Error];
  /** The connection closed; every pending request and wait has been rejected. */
  close: [code: number, reason: string];
}

type ClientFrame = NonNullable<ConnectRequest['frame']>;
type ServerFrame = NonNullable<ConnectResponse['frame']>;
type ServerCase = ServerFrame['$case'];
type ServerValues = { [F in ServerFrame as F['$case']]: F['value'] };

interface PendingRequest {
  /** The frame case that answers the request; an `error` frame with its request id rejects it. */
  expect: ServerCase;
  resolve(value: ServerFrame['value']): void;
  reject(err: Error): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_HEARTBEAT_MS = 5_000;

/**
 * A typed WebSocket client of the chat gateway: one connection, no reconnecting (ChatSession adds
 * that). It runs in browsers and in Node: the WebSocket class is an option, events come from a
 * {@link TypedEmitter}, ids from `crypto.randomUUID`.
 *
 * Requests carry a generated `requestId` and are settled by the server frame echoing it: the
 * expected answer resolves, an `error` frame rejects with a {@link ChatClientError} whose code is
 * the ErrorCode name. Everything else the server sends is "pushed": emitted as an event and kept in
 * a bounded buffer that {@link waitFor} searches, so tests poll with deadlines instead of sleeping.
 * When the connection closes, pending requests and waits reject with code `unavailable`.
 */
export class ChatClient extends TypedEmitter<ChatClientEvents> {
  /** The server's `welcome`; set once {@link connect} has resolved. */
  welcome!: Welcome;

  private readonly pending = new Map<string, PendingRequest>();
  /** subscribe_presence request ids awaiting their heartbeat barrier, with the error that answered each. */
  private readonly presenceSubscriptions = new Map<string, ChatClientError | undefined>();
  private readonly pushed: PushedFrameBuffer;
  private readonly format: FrameFormat;
  private readonly requestTimeoutMs: number;
  private nextId = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private helloRequestId = '';
  private closed = false;
  private lastSocketError: Error | undefined;
  /** Resolvers of {@link close} calls, settled by the close. */
  private readonly closeWaiters: (() => void)[] = [];
  /** Set while the handshake runs: what a close or an open means to it. */
  private handshakeHooks: { opened(): void; closed(err: Error): void } | undefined;

  protected constructor(
    private readonly ws: WebSocketLike,
    opts: ChatClientOptions,
  ) {
    super();
    this.format = opts.format ?? 'binary';
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pushed = new PushedFrameBuffer(opts.pushedBufferSize ?? 1000);
    for (const [event, listener] of Object.entries(opts.listeners ?? {})) {
      if (listener) this.on(event as keyof ChatClientEvents, listener as (...args: unknown[]) => void);
    }
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('open', () => this.handshakeHooks?.opened());
    ws.addEventListener('message', (event) => this.onMessage(event.data));
    ws.addEventListener('error', (event: SocketEvent) => {
      this.lastSocketError = event.error instanceof Error ? event.error : new Error(event.message ?? 'WebSocket error');
    });
    ws.addEventListener('close', (event) => this.onClose(event.code ?? 1006, event.reason ?? ''));
  }

  /**
   * Opens a connection, sends `hello` and resolves once the server answered `welcome`. Rejects with
   * the server's code (e.g. `ERROR_CODE_UNAUTHENTICATED`) if it answers `error`, with `unavailable`
   * if the socket cannot be opened or closes first, and with `deadline_exceeded` after
   * `connectTimeoutMs`; the socket is then closed.
   */
  static connect(opts: ChatClientOptions): Promise<ChatClient> {
    const Socket = resolveWebSocket(opts.WebSocket);
    if (!Socket) return Promise.reject(new ChatClientError('invalid_argument', 'this platform has no WebSocket: pass one as the WebSocket option (on Node 20, the ws package)'));
    let client: ChatClient;
    try {
      client = new this(new Socket(opts.url), opts);
    } catch (err) {
      return Promise.reject(new ChatClientError('unavailable', `cannot open ${opts.url}: ${String(err)}`, { cause: err }));
    }
    return client.handshake(opts).then(() => client);
  }

  /** The authenticated user id (from `welcome`). */
  get userId(): string {
    return this.welcome.userId;
  }

  /** True until the connection has closed. */
  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Sends a text message; resolves with the server's `send_ack`. Retrying with the same
   * `clientMsgId` is idempotent (the ack names the original message id).
   */
  send(conversationId: string, text: string, clientMsgId: string = globalThis.crypto.randomUUID()): Promise<SendAck> {
    return this.request({ $case: 'send', value: { conversationId, text, clientMsgId } }, 'sendAck');
  }

  /** Reads one page of a conversation (see HistoryQuery: at most one of beforeId / afterId). */
  history(query: Partial<HistoryQuery> & { conversationId: string }): Promise<HistoryPage> {
    const value: HistoryQuery = { beforeId: '0', afterId: '0', limit: 0, ...query };
    return this.request({ $case: 'history', value }, 'historyPage');
  }

  /**
   * Replaces the connection's token with a fresh one of the same user before the old one expires
   * (the server closes the connection with 4001 when it does). Resolves with the server's answer;
   * rejects with `ERROR_CODE_PERMISSION_DENIED` for another user's token (the old one stays in
   * force) or `ERROR_CODE_UNAUTHENTICATED` for an invalid one (the server then closes).
   */
  refreshToken(token: string): Promise<TokenRefreshed> {
    return this.request({ $case: 'refreshToken', value: { token } }, 'tokenRefreshed');
  }

  /** Sends a heartbeat and resolves with the server's `pong`. */
  heartbeat(): Promise<Pong> {
    return this.request({ $case: 'heartbeat', value: {} }, 'pong');
  }

  /**
   * Adds users to this connection's presence watch list and resolves once the server has handled
   * the request; their current state arrives as `presence` events before it resolves.
   *
   * The server answers `subscribe_presence` only with presence frames of the users it watches and,
   * if some were refused, one `error` frame; nothing says "done". Since the server handles a
   * connection's frames in order, this sends a `heartbeat` right after it and treats the `pong` as
   * the barrier: by then every answer has arrived. Rejects with that error frame's code
   * (`ERROR_CODE_PERMISSION_DENIED`, `ERROR_CODE_LIMIT_EXCEEDED`, ...) if there was one; the users
   * the server accepted are watched even then.
   */
  async subscribePresence(userIds: string[]): Promise<void> {
    const requestId = this.newRequestId();
    this.presenceSubscriptions.set(requestId, undefined);
    let failure: ChatClientError | undefined;
    try {
      this.write({ requestId, frame: { $case: 'subscribePresence', value: { userIds } } });
      await this.heartbeat();
      failure = this.presenceSubscriptions.get(requestId);
    } finally {
      this.presenceSubscriptions.delete(requestId);
    }
    if (failure) throw failure;
  }

  /**
   * Acknowledges received messages (DELIVERED receipts, and a hint resume position) and, with
   * `heldThrough`, where this device holds every message (its exact resume position, see
   * HeldPositions). The server does not answer an ack; an error about it arrives as an `error`
   * event. Throws `unavailable` when the connection is not open.
   */
  ack(messageIds: string[], heldThrough: Record<string, string> = {}): void {
    if (messageIds.length > 0 || Object.keys(heldThrough).length > 0) this.write({ requestId: '', frame: { $case: 'ack', value: { messageIds, heldThrough } } });
  }

  /**
   * Tells the other participants this user is typing (send at most every 3 s while typing). Not
   * answered; an error (RATE_LIMITED, PERMISSION_DENIED) arrives as an `error` event.
   */
  typing(conversationId: string): void {
    this.write({ requestId: '', frame: { $case: 'typing', value: { conversationId } } });
  }

  /**
   * Marks the conversation read up to `messageId` (this user's READ watermark, on all its
   * devices). Not answered; an error arrives as an `error` event.
   */
  markRead(conversationId: string, messageId: string): void {
    this.write({ requestId: '', frame: { $case: 'read', value: { conversationId, messageId } } });
  }

  /**
   * Sends bytes (a binary WS message) or text (a text WS message) as they are, for testing bad
   * input; answers are pushed frames (see {@link waitFor}). Throws `unavailable` when not open.
   */
  sendRaw(data: string | Uint8Array): void {
    this.assertOpen();
    this.ws.send(data);
  }

  /**
   * Resolves with the first pushed frame (message, presence, replayed history page, unanswered
   * error, go_away) that the predicate selects, looking first at the frames buffered since connect
   * (the most recent `pushedBufferSize`), then at new ones. Frames are not consumed. Rejects after
   * `timeoutMs` (default `requestTimeoutMs`), or with `unavailable` once the connection has closed
   * and no buffered frame matches. See {@link FrameMatcher} for what the predicate may return.
   */
  waitFor<F extends ConnectResponse>(predicate: (frame: ConnectResponse) => frame is F, timeoutMs?: number): Promise<F>;
  waitFor(predicate: (frame: ConnectResponse) => boolean, timeoutMs?: number): Promise<ConnectResponse>;
  waitFor<T>(predicate: FrameMatcher<T>, timeoutMs?: number): Promise<T>;
  waitFor<T>(predicate: FrameMatcher<T>, timeoutMs = this.requestTimeoutMs): Promise<T> {
    return this.pushed.waitFor(
      predicate,
      timeoutMs,
      () => new ChatClientError('deadline_exceeded', `no matching frame within ${timeoutMs} ms`),
    );
  }

  /** Resolves with the first pushed message the predicate accepts (any message without one). */
  waitForMessage(predicate: (message: ChatMessage) => boolean = () => true, timeoutMs?: number): Promise<ChatMessage> {
    return this.waitFor(
      (f) => (f.frame?.$case === 'message' && predicate(f.frame.value) ? f.frame.value : undefined),
      timeoutMs,
    );
  }

  /** The pushed frames currently buffered, oldest first. */
  pushedFrames(): ConnectResponse[] {
    return this.pushed.snapshot();
  }

  /** Closes the connection (normal closure) and resolves once it is closed. */
  close(code = 1000, reason = ''): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      if (this.ws.readyState === SocketState.CONNECTING) this.abort();
      else if (this.ws.readyState === SocketState.OPEN) this.ws.close(code, reason);
    });
  }

  /**
   * Drops the connection without waiting for the server: `terminate()` where the implementation
   * has one (ws); elsewhere a close whose handshake nobody waits for, reported as closed (1006) now.
   */
  private abort(): void {
    if (this.ws.terminate) {
      this.ws.terminate();
      return;
    }
    try {
      this.ws.close();
    } catch {
      // Already closing: the close below is what counts.
    }
    this.onClose(1006, '');
  }

  private handshake(opts: ChatClientOptions): Promise<void> {
    const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.handshakeHooks = undefined;
        this.abort();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new ChatClientError('deadline_exceeded', `no welcome from ${opts.url} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const done = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.handshakeHooks = undefined;
        resolve();
      };
      this.handshakeHooks = { closed: fail, opened: () => this.sendHello(opts, timeoutMs, fail, done) };
    });
  }

  /** Sends `hello`; `done` once `welcome` answered it (heartbeats started), `fail` otherwise. */
  private sendHello(opts: ChatClientOptions, timeoutMs: number, fail: (err: Error) => void, done: () => void): void {
    this.helloRequestId = this.newRequestId();
    const hello: ClientFrame = {
      $case: 'hello',
      value: { token: opts.token, deviceId: opts.deviceId, lastSeen: opts.lastSeen ?? {}, resumeAfter: opts.resumeAfter ?? {} },
    };
    this.request(hello, 'welcome', this.helloRequestId, timeoutMs).then((welcome) => {
      if (this.handshakeHooks === undefined) return; // failed meanwhile (deadline)
      this.welcome = welcome;
      if (opts.autoHeartbeat ?? true) this.startHeartbeat(welcome.heartbeatIntervalMs || DEFAULT_HEARTBEAT_MS);
      done();
    }, fail);
  }

  private startHeartbeat(intervalMs: number): void {
    this.heartbeatTimer = setInterval(() => {
      // A heartbeat nobody answers means a dead connection (half-open TCP): drop it so the owner
      // sees `close` and can reconnect. Other failures (already closing) need nothing.
      this.heartbeat().catch((err: unknown) => {
        if (err instanceof ChatClientError && err.code === 'deadline_exceeded') this.abort();
      });
    }, intervalMs);
    // Node: an idle client does not keep the process alive (browsers have no such thing).
    (this.heartbeatTimer as { unref?: () => void }).unref?.();
  }

  private request<C extends ServerCase>(
    frame: ClientFrame,
    expect: C,
    requestId = this.newRequestId(),
    timeoutMs = this.requestTimeoutMs,
  ): Promise<ServerValues[C]> {
    return new Promise<ServerValues[C]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new ChatClientError('deadline_exceeded', `no answer to ${frame.$case} (request ${requestId}) within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.pending.delete(requestId);
      };
      this.pending.set(requestId, {
        expect,
        resolve: (value) => {
          done();
          resolve(value as ServerValues[C]);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      try {
        this.write({ requestId, frame });
      } catch (err) {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  private write(request: ConnectRequest): void {
    this.assertOpen();
    this.ws.send(encodeRequest(request, this.format));
  }

  private assertOpen(): void {
    if (this.closed || this.ws.readyState !== SocketState.OPEN) throw new ChatClientError('unavailable', 'the connection is not open');
  }

  private newRequestId(): string {
    this.nextId += 1;
    return String(this.nextId);
  }

  private onMessage(data: unknown): void {
    if (this.closed) return; // a socket given up on (abort) may still deliver what it had
    let response: ConnectResponse;
    try {
      if (typeof data !== 'string' && !(data instanceof ArrayBuffer) && !(data instanceof Uint8Array)) throw new TypeError(`unexpected WebSocket data ${typeof data}`);
      response = decodeResponse(data);
    } catch (err) {
      this.emit('decodeError', new ChatClientError('internal', `undecodable server frame: ${String(err)}`, { cause: err }));
      return;
    }
    const frame = response.frame;
    if (frame === undefined) return; // a case newer than this client: nothing to do with it
    if (frame.$case === 'error' && this.answerError(response.requestId || frame.value.requestId, frame.value)) return;
    const pending = this.pending.get(response.requestId);
    if (pending && pending.expect === frame.$case) {
      pending.resolve(frame.value);
      return;
    }
    this.push(response, frame);
  }

  /** Settles the request an error frame answers; false when it answers none (then it is pushed). */
  private answerError(requestId: string, error: ErrorFrame): boolean {
    const err = new ChatClientError(errorCodeToJSON(error.code), error.message);
    // Before `welcome`, any error is the answer to `hello` (the server closes right after it).
    const pending = this.pending.get(requestId) ?? (this.welcome ? undefined : this.pending.get(this.helloRequestId));
    if (pending) {
      pending.reject(err);
      return true;
    }
    if (this.presenceSubscriptions.has(requestId)) {
      if (this.presenceSubscriptions.get(requestId) === undefined) this.presenceSubscriptions.set(requestId, err);
      return true;
    }
    return false;
  }

  private push(response: ConnectResponse, frame: ServerFrame): void {
    this.pushed.record(response);
    switch (frame.$case) {
      case 'message':
        this.emit('message', frame.value);
        break;
      case 'presence':
        this.emit('presence', frame.value);
        break;
      case 'historyPage':
        this.emit('historyPage', frame.value);
        break;
      case 'gap':
        this.emit('gap', frame.value);
        break;
      case 'resumeComplete':
        this.emit('resumeComplete', frame.value);
        break;
      case 'typing':
        this.emit('typing', frame.value);
        break;
      case 'receipt':
        this.emit('receipt', frame.value);
        break;
      case 'receiptSummary':
        this.emit('receiptSummary', frame.value);
        break;
      case 'error':
        if (this.listenerCount('error') > 0) this.emit('error', frame.value);
        break;
      case 'goAway':
        this.emit('goAway', frame.value);
        break;
      default:
        // welcome, send_ack, pong answering nothing pending (late after a timeout): buffered only.
        break;
    }
  }

  private onClose(code: number, reason: string): void {
    if (this.closed) return; // reported already (abort)
    this.closed = true;
    this.handshakeHooks?.closed(this.closedError(code, reason));
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const err = this.closedError(code, reason);
    for (const pending of [...this.pending.values()]) pending.reject(err);
    this.pushed.close(err);
    for (const resolve of this.closeWaiters.splice(0)) resolve();
    this.emit('close', code, reason);
  }

  private closedError(code: number, reason: string): ChatClientError {
    const why = reason ? `: ${reason}` : this.lastSocketError ? `: ${this.lastSocketError.message}` : '';
    return new ChatClientError('unavailable', `connection closed (code ${code})${why}`, { cause: this.lastSocketError });
  }
}
