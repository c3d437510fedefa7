import type { Logger } from 'pino';
import type { TokenVerifier } from '../auth/token-verifier';
import type { ConversationAccess } from '../chat/conversation-access';
import type { HistoryQueries } from '../chat/history-queries';
import type { MessageService } from '../chat/message-service';
import type { DeviceCursorStore } from '../history/message-store';
import type { HistoryCatchUp } from '../messagelog/history-catch-up';
import type { Sessions } from '../session/sessions';
import type { ReceiptService } from '../receipts/receipt-service';
import type { TypingService } from '../typing/typing-service';
import type { AckBatcher } from './ack-batcher';
import type { ConnectionRegistry } from './connection-registry';
import type { PresenceWatches } from './presence-watches';

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
  /** A resume replays from the device's position moved back this much Snowflake time. */
  resumeOverlapMs: number;
  /** How long a resume waits for history to hold everything acknowledged before it reads. */
  resumeSyncWaitMs: number;
  /** Resume replays this server reads history for at once; more wait their turn (ResumeSlots). */
  resumeConcurrency: number;
  /** Typing frames per connection per second (burst twice that). */
  typingRatePerSec: number;
  /** A connection without a completed hello is closed after this long. */
  handshakeTimeoutMs: number;
  /** Sends per user per second over all its connections here; default twice sendRatePerSec. */
  userSendRatePerSec?: number;
  /** Send burst per user; default twice sendBurst. */
  userSendBurst?: number;
}


/** Everything a client connection needs, shared by all connections of one chat server. */
export interface GatewayContext {
  serverId: string;
  /** Where peers reach this server's RelayService; '' in `chatd`, where every device is local. */
  serverAddress: string;
  verifier: TokenVerifier;
  sessions: Sessions;
  messages: MessageService;
  history: HistoryQueries;
  access: ConversationAccess;
  /**
   * Where a resume reads a device's saved positions: the store in `chatd`; in the mesh the
   * HistoryService client, which coalesces the reads of one event-loop turn into one call.
   */
  cursors: Pick<DeviceCursorStore, 'loadDeviceCursors'>;
  /** This server's one writer of acknowledged positions and DELIVERED watermarks. */
  acks: AckBatcher;
  /** Whether history holds every acknowledged message yet; a resume waits for it before reading. */
  historyCatchUp: HistoryCatchUp;
  registry: ConnectionRegistry;
  /** This server's presence watches at the session service (registered on subscribe, renewed). */
  presenceWatches: PresenceWatches;
  typing: TypingService;
  receipts: ReceiptService;
  limits: GatewayLimits;
  log: Logger;
  now: () => number;
}
