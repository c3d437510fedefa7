import type { Logger } from 'pino';
import type { TokenVerifier } from '../auth/token-verifier';
import type { ConversationAccess } from '../chat/conversation-access';
import type { MessageService } from '../chat/message-service';
import type { MessageStore } from '../history/message-store';
import type { Sessions } from '../session/sessions';
import type { ConnectionRegistry } from './connection-registry';

/** The limits a chat server enforces per connection; each is a CHAT_ setting. */
export interface GatewayLimits {
  heartbeatIntervalMs: number;
  presenceTtlMs: number;
  sendRatePerSec: number;
  sendBurst: number;
  maxProtocolErrors: number;
  maxPresenceSubscriptions: number;
  resumeMaxMessages: number;
  resumeMaxConversations: number;
}

/** Device resume positions; in `chatd` the MessageStore keeps them. */
export type DeviceCursorStore = Pick<MessageStore, 'saveDeviceCursors' | 'loadDeviceCursors'>;

/** Everything a client connection needs, shared by all connections of one chat server. */
export interface GatewayContext {
  serverId: string;
  verifier: TokenVerifier;
  sessions: Sessions;
  messages: MessageService;
  access: ConversationAccess;
  cursors: DeviceCursorStore;
  registry: ConnectionRegistry;
  limits: GatewayLimits;
  log: Logger;
  now: () => number;
}
