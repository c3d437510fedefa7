/**
 * The part of the WHATWG WebSocket API the client uses, so that it runs on any implementation:
 * the browser's and Node 22's `globalThis.WebSocket`, or the `ws` package on Node 20 (its
 * EventTarget interface). Nothing here imports an implementation.
 */
export interface WebSocketLike {
  readonly readyState: number;
  /** Set to `arraybuffer` so binary frames arrive as bytes (a browser's default is `blob`). */
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: SocketEvent) => void): void;
  /**
   * Drops the connection at once, without a closing handshake (the `ws` package has it; browsers do
   * not). Used on a connection whose server stopped answering, where a close handshake would wait.
   */
  terminate?(): void;
}

/** The fields of the open, message, close and error events the client reads. */
export interface SocketEvent {
  /** message: a string (text frame), an ArrayBuffer or a Uint8Array (binary frame). */
  data?: unknown;
  /** close */
  code?: number;
  reason?: string;
  /** error: `ws` and Node's WebSocket say what went wrong; a browser says nothing. */
  message?: string;
  error?: unknown;
}

/**
 * A WebSocket class. In Node 20 pass the `ws` package's default export; to set headers (Origin,
 * a cookie) or a local address there, pass a subclass that adds them:
 * `class extends WebSocket { constructor(url: string) { super(url, { headers }); } }`.
 */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** readyState values (the same in every implementation). */
export const SocketState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;

/** The given class, else the platform's `globalThis.WebSocket`; undefined when there is neither. */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor | undefined {
  return given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}
