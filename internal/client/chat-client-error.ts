/**
 * A failure reported to a client of the chat mesh, or detected by the client itself.
 *
 * `code` depends on where the failure came from:
 * - an `error` frame on the WebSocket: the ErrorCode enum name, e.g. `ERROR_CODE_PERMISSION_DENIED`;
 * - a unary HTTP call: the Connect error code from the response body, e.g. `permission_denied`;
 * - the client itself: `deadline_exceeded` (no answer in time), `unavailable` (the connection could
 *   not be opened or was closed before the answer came) or `internal` (an undecodable answer).
 *
 * `message` is the server's human-readable reason (safe to show) or the client's own description.
 */
export class ChatClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChatClientError';
  }
}
