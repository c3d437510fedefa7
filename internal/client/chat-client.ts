import NodeWebSocket from 'ws';
import { ChatClient as PortableChatClient, type ChatClientOptions } from './portable-chat-client';
import type { WebSocketConstructor } from './web-socket';

export type { ChatClientEvents, ChatClientListeners, ChatClientOptions } from './portable-chat-client';

/**
 * The `ws` package as the client's WebSocket class: what Node 20 lacks (`globalThis.WebSocket`
 * arrived in Node 22). Its EventTarget interface is the browser API the client speaks, and it has
 * `terminate()`.
 */
export const nodeWebSocket = NodeWebSocket as unknown as WebSocketConstructor;

/**
 * The chat client for this repository's Node code (CLI, tests, the fault suite): the portable
 * {@link PortableChatClient} with `ws` as its default WebSocket. Node-only; the SDK package
 * (index.ts) exports the portable one, to which Node 20 callers pass `ws` themselves.
 */
export class ChatClient extends PortableChatClient {
  static override connect(opts: ChatClientOptions): Promise<ChatClient> {
    return super.connect({ WebSocket: nodeWebSocket, ...opts });
  }
}
