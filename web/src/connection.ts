import { errorCodeToJSON, type ErrorCode } from '../../gen/chat/v1/errors';
import { ConnectRequest, ConnectResponse, type Welcome } from '../../gen/chat/v1/gateway';
import { UserFacingError } from './errors';

export type ClientFrame = NonNullable<ConnectRequest['frame']>;
export type ServerFrame = NonNullable<ConnectResponse['frame']>;
type ServerValues = { [F in ServerFrame as F['$case']]: F['value'] };

/** What the page shows about the link to the server. */
export type LinkState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  | { kind: 'waiting'; attempt: number; retryAtMs: number; reason: string }
  | { kind: 'signed-out'; reason: string };

export interface ConnectionOptions {
  /** The WebSocket URL, asked again at every (re)connect. */
  url: () => string;
  token: string;
  deviceId: string;
  /**
   * The resume fields of `hello`, asked at every (re)connect right before it is sent:
   * `resume_after` (held positions) and `last_seen` (hints). What follows `welcome` up to
   * `resume_complete` is the replay answering them.
   */
  resume: () => { resumeAfter: Record<string, string>; lastSeen: Record<string, string> };
  onWelcome: (welcome: Welcome) => void;
  /** Every server frame that answers no pending request (pushes, the replay after hello, errors). */
  onFrame: (frame: ServerFrame, requestId: string) => void;
  onState: (state: LinkState) => void;
}

interface Pending {
  expect: ServerFrame['$case'];
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: number;
}

const REQUEST_TIMEOUT_MS = 10_000;
const MAX_BACKOFF_MS = 10_000;

/**
 * The WebSocket link to chatd, in JSON text frames encoded by the generated code. It reconnects
 * by itself with capped exponential backoff (and at once when the browser comes back online or
 * the user asks), sends `hello` with the resume positions so the server replays exactly what was
 * missed, and heartbeats. A rejected token (close code 4001) signs the user out instead of retrying.
 */
export class ChatConnection {
  private ws?: WebSocket;
  private attempt = 0;
  private retryTimer?: number;
  private heartbeatTimer?: number;
  private nextId = 1;
  private stopped = false;
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly opts: ConnectionOptions) {
    window.addEventListener('online', this.retryNow);
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener('online', this.retryNow);
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeatTimer);
    this.ws?.close(1000, 'signed out');
  }

  /** Skips the backoff wait. */
  readonly retryNow = (): void => {
    if (this.stopped || (this.ws && this.ws.readyState !== WebSocket.CLOSED)) return;
    clearTimeout(this.retryTimer);
    this.open();
  };

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.welcomed;
  }

  private welcomed = false;

  /** Sends a frame nobody answers (ack, typing, read). Throws when not connected. */
  send(frame: ClientFrame, requestId = ''): void {
    if (!this.isOpen || !this.ws) throw new UserFacingError('unavailable', 'the connection is down');
    this.ws.send(JSON.stringify(ConnectRequest.toJSON({ requestId, frame })));
  }

  /** Sends a frame and resolves with the answer of the expected case; an `error` frame rejects. */
  request<K extends ServerFrame['$case']>(frame: ClientFrame, expect: K): Promise<ServerValues[K]> {
    const requestId = `r${this.nextId++}`;
    this.send(frame, requestId);
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(requestId);
        reject(new UserFacingError('timeout', 'no answer'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(requestId, { expect, resolve: resolve as (v: unknown) => void, reject, timer });
    });
  }

  private open(): void {
    this.opts.onState({ kind: 'connecting', attempt: this.attempt });
    this.welcomed = false;
    const ws = new WebSocket(this.opts.url());
    this.ws = ws;
    ws.onopen = () => {
      const hello = { token: this.opts.token, deviceId: this.opts.deviceId, ...this.opts.resume() };
      ws.send(JSON.stringify(ConnectRequest.toJSON({ requestId: 'hello', frame: { $case: 'hello', value: hello } })));
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data === 'string') this.receive(ev.data);
    };
    ws.onclose = (ev: CloseEvent) => this.closed(ws, ev.code, ev.reason);
  }

  private receive(text: string): void {
    let response: ConnectResponse;
    try {
      response = ConnectResponse.fromJSON(JSON.parse(text));
    } catch {
      return;
    }
    const { requestId, frame } = response;
    if (!frame) return;
    if (frame.$case === 'welcome') {
      this.welcomed = true;
      this.attempt = 0;
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = window.setInterval(() => {
        if (this.isOpen) this.send({ $case: 'heartbeat', value: {} });
      }, frame.value.heartbeatIntervalMs || 5000);
      this.opts.onState({ kind: 'open' });
      this.opts.onWelcome(frame.value);
      return;
    }
    const pending = requestId ? this.pending.get(requestId) : undefined;
    if (pending && (frame.$case === pending.expect || frame.$case === 'error')) {
      this.pending.delete(requestId);
      clearTimeout(pending.timer);
      if (frame.$case === 'error') pending.reject(new UserFacingError(errorName(frame.value.code), frame.value.message));
      else pending.resolve(frame.value);
      return;
    }
    this.opts.onFrame(frame, requestId);
  }

  private closed(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    clearInterval(this.heartbeatTimer);
    this.welcomed = false;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new UserFacingError('unavailable', 'the connection dropped'));
      this.pending.delete(id);
    }
    if (this.stopped) return;
    if (code === 4001) {
      this.stopped = true;
      this.opts.onState({ kind: 'signed-out', reason: reason || 'your token was refused or expired' });
      return;
    }
    this.attempt++;
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.attempt, 6)) * (0.75 + Math.random() / 2);
    this.opts.onState({ kind: 'waiting', attempt: this.attempt, retryAtMs: Date.now() + delay, reason: reason || closeReason(code) });
    this.retryTimer = window.setTimeout(() => this.open(), delay);
  }
}

function errorName(code: ErrorCode): string {
  return errorCodeToJSON(code);
}

function closeReason(code: number): string {
  if (code === 1006) return 'the connection was lost';
  if (code === 1001 || code === 1012) return 'the server is restarting';
  if (code === 4008) return 'heartbeat missed';
  return `closed (${code})`;
}
