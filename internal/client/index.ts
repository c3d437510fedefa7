/**
 * The chat mesh client SDK (`@chat-mesh/client`, built by packages/client): everything a
 * TypeScript client needs, in browsers and in Node. Everything reachable from here is portable:
 * no `node:*` module, no `ws`, no Buffer (the package build fails on a Node builtin). Node 20 has
 * no `globalThis.WebSocket`: pass the `ws` package as the `WebSocket` option there.
 *
 * - {@link ChatSession}: a connection that stays up. Reconnects with backoff and jitter, resumes by
 *   position, dedupes, acknowledges, pages gaps. What most clients want.
 * - {@link ChatClient}: one connection with typed requests and events, for tools and tests.
 * - {@link ResumeSession} and {@link HeldPositions}: the resume rules on their own, for a client
 *   that keeps its own connection (docs/clients.md "How a client resumes").
 * - {@link ChatApi} over {@link ChatHttpClient}: the unary RPCs (groups, history, presence) over HTTP.
 * - {@link encodeRequest} / {@link decodeResponse}: the frame codec, for a client that drives raw sockets.
 */
export { ChatSession, type ChatSessionEvents, type ChatSessionOptions, type LinkState, type MessageSource } from './chat-session';
export { ChatClient, type ChatClientEvents, type ChatClientListeners, type ChatClientOptions } from './portable-chat-client';
export { ChatClientError } from './chat-client-error';
export { ResumeSession, type PendingAck, type ResumeHello } from './resume-session';
export { HeldPositions, type HeldPosition, type HeldPositionsOptions, type Numbered } from './held-positions';
export { backoffMs, type BackoffPolicy } from './backoff';
export { RecentIds } from './recent-ids';
export { jwtSubject } from './jwt-subject';
export { TypedEmitter, type Listener } from './typed-emitter';
export { decodeResponse, encodeRequest, type FrameFormat } from './frame-codec';
export type { FrameMatcher } from './pushed-frame-buffer';
export { SocketState, type SocketEvent, type WebSocketConstructor, type WebSocketLike } from './web-socket';
export { ChatHttpClient, type ChatHttpClientOptions, type JsonCodec } from './http-client';
export { ChatApi } from './chat-api';
export { ErrorCode, errorCodeFromJSON, errorCodeToJSON } from '../../gen/chat/v1/errors';
export {
  ConnectRequest,
  ConnectResponse,
  GapReason,
  gapReasonToJSON,
  type ErrorFrame,
  type GoAway,
  type Hello,
  type HistoryPage,
  type HistoryQuery,
  type PresenceEvent,
  type ResumeComplete,
  type ResumeGap,
  type SendAck,
  type TokenRefreshed,
  type Welcome,
} from '../../gen/chat/v1/gateway';
export { PresenceStatus, ReceiptKind, type ChatMessage, type ConversationSummary, type Receipt, type ReceiptSummary, type TypingEvent, type UserPresence } from '../../gen/chat/v1/message';
export type { Group, GroupMember } from '../../gen/chat/v1/group';
