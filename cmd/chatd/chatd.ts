import pino, { type Logger } from 'pino';
import { GroupServiceService } from '../../gen/chat/v1/group';
import { HistoryServiceService } from '../../gen/chat/v1/history';
import { SessionServiceService } from '../../gen/chat/v1/session';
import { devIssuerFromConfig, verifierFromConfig } from '../../internal/auth/auth-from-config';
import { ConversationAccess } from '../../internal/chat/conversation-access';
import { LocalEphemeralPublisher } from '../../internal/ephemeral/ephemeral-publisher-local';
import { HistoryQueries } from '../../internal/chat/history-queries';
import { historyRpc } from '../../internal/chat/history-rpc';
import { MessageService } from '../../internal/chat/message-service';
import { serverLeaseTtlMs, type Config } from '../../internal/config/config';
import { AckBatcher } from '../../internal/gateway/ack-batcher';
import { ConnectionRegistry } from '../../internal/gateway/connection-registry';
import { StoreCursorBatchWriter } from '../../internal/gateway/device-cursor-batches';
import { Gateway } from '../../internal/gateway/gateway';
import { PresenceWatches } from '../../internal/gateway/presence-watches';
import { gatewayService, grpcEdgeMessageBytes, grpcGatewayImplementation } from '../../internal/gateway/grpc-gateway';
import { LocalDelivery } from '../../internal/gateway/local-delivery';
import { attachWebSocket } from '../../internal/gateway/ws-transport';
import { HISTORY_WRITTEN_BEFORE_ACK } from '../../internal/messagelog/history-catch-up';
import { MemberListCache } from '../../internal/group/member-list-cache';
import { groupRpc } from '../../internal/group/group-rpc';
import { GroupService } from '../../internal/group/group-service';
import { ChatMetrics } from '../../internal/telemetry/metrics';
import { createHttpApi } from '../../internal/httpapi/http-api';
import { listen } from '../../internal/httpapi/listen';
import { httpTlsFromConfig } from '../../internal/httpapi/tls-files';
import { grpcUnaryImplementation } from '../../internal/rpc/grpc-unary';
import { startGrpcServer, type RunningGrpcServer } from '../../internal/rpc/grpc-server';
import { withConversationReceipts } from '../../internal/receipts/conversation-list-receipts';
import { ReceiptService } from '../../internal/receipts/receipt-service';
import { ReceiptSummaries } from '../../internal/receipts/receipt-summaries';
import { TypingService } from '../../internal/typing/typing-service';
import { openAdapters } from './adapters';
import { sessionRpc, watchPresenceImplementation } from '../../internal/session/session-rpc';
import { SessionTracker } from '../../internal/session/session-tracker';
import { SequencedAppender } from '../../internal/history/sequenced-appender';


export interface RunningChatd {
  httpPort: number;
  grpcPort: number;
  /** Drains clients (go_away), then closes servers and stores. */
  stop(): Promise<void>;
}

/** Groups whose member lists chatd keeps in memory (500 members at most each). */
const MEMBER_LISTS_CACHED = 10_000;

/**
 * The composition root of `chatd`: every service in one process, on embedded adapters (in-process
 * bus, in-memory sessions, SQLite history and groups) by default or on Kafka, Redis and Cassandra
 * (see adapters.ts). Wiring only; behaviour lives in internal/.
 */
export async function startChatd(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<RunningChatd> {
  if (config.devMode && !config.jwtSecret) log.warn('dev mode: using the built-in dev JWT secret');
  const verifier = await verifierFromConfig(config);
  const devTokens = devIssuerFromConfig(config);

  const adapters = await openAdapters(config, log);
  const { ids } = adapters;

  const registry = new ConnectionRegistry();
  const sessions = new SessionTracker({
    store: adapters.sessions,
    // One process, one chat server: its notices go straight to its connections (it caches no
    // locations, so only presences matter). Another server id, named by a caller of this
    // SessionService, has no inbox in this process.
    send: (serverId, notice) => {
      if (serverId === config.serverId) for (const p of notice.presences) registry.publishPresence(p);
      return Promise.resolve();
    },
    log,
    leaseTtlMs: serverLeaseTtlMs(config),
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    sweepIntervalMs: Math.max(100, Math.floor(config.presenceTtlMs / 10)),
    presenceWatchTtlMs: config.presenceWatchTtlMs,
    locateCacheMs: 0,
    maxPerNotice: config.maxGroupSize,
  });
  const messageStore = adapters.messages;
  // On SQLite this process makes every group change itself, so it may keep member lists; on
  // Cassandra another process may change them.
  const groupStore = config.store === 'sqlite' ? new MemberListCache(adapters.groups, MEMBER_LISTS_CACHED) : adapters.groups;
  const groups = new GroupService({ store: groupStore, limits: config, nextId: () => ids.nextString() });
  const access = new ConversationAccess(groups, messageStore);
  const metrics = new ChatMetrics({ service: 'chatd', instance: config.serverId, stallMetrics: true });
  // SQLite numbers each conversation in its append; Cassandra's append does not, so this process,
  // the only appender of its conversations, does it in front of the store.
  const appender = config.store === 'cassandra' ? new SequencedAppender(messageStore) : messageStore;
  const messages = new MessageService({ appender, access, ids, metrics, delivery: new LocalDelivery(registry), limits: config, log });
  const history = new HistoryQueries(messageStore, access, config);
  const ephemeral = new LocalEphemeralPublisher(registry);
  const receipts = new ReceiptService({ store: adapters.receipts, messages: messageStore, access, ephemeral });
  const summaries = new ReceiptSummaries({ store: adapters.receipts, messages: messageStore, access, maxUnreadCount: config.maxPageSize });
  const typing = new TypingService({ access, ephemeral, maxGroupSize: config.typingMaxGroupSize });
  const acks = new AckBatcher({ cursors: new StoreCursorBatchWriter(messageStore), receipts, flushMs: config.ackFlushMs, maxBatch: config.ackMaxBatch, log });
  const presenceWatches = new PresenceWatches({ sessions, serverId: config.serverId, ttlMs: config.presenceWatchTtlMs, maxPerCall: config.maxGroupSize, watched: () => registry.watchedUsers(), log, now: Date.now });
  const gateway = new Gateway({ serverId: config.serverId, serverAddress: '', verifier, sessions, messages, history, access, cursors: messageStore, acks, historyCatchUp: HISTORY_WRITTEN_BEFORE_ACK, registry, presenceWatches, typing, receipts, limits: config, log, now: Date.now });

  const unary = {
    group: groupRpc(groups, config),
    history: withConversationReceipts(historyRpc(history, messageStore, adapters.receipts, config), summaries),
    session: sessionRpc({ sessions, visiblePresences: (viewer, targets) => access.visiblePresences(viewer, targets), maxUsersPerCall: config.maxGroupSize }),
  };
  let ready = false;
  const http = createHttpApi({ methods: [...unary.group, ...unary.history, ...unary.session], verifier, devTokens, ready: () => ready, maxBodyBytes: config.maxFrameBytes, log, staticDir: config.webDir, metrics, tls: httpTlsFromConfig(config) });
  attachWebSocket(http, gateway, { path: '/ws', maxFrameBytes: config.maxFrameBytes, maxBufferedBytes: config.maxBufferedBytes, closeTimeoutMs: config.closeTimeoutMs, allowedOrigins: config.allowedOrigins, maxConnectionsPerIp: config.maxConnectionsPerIp });

  const grpc: RunningGrpcServer = await startGrpcServer({
    host: config.host,
    port: config.grpcPort,
    maxMessageBytes: grpcEdgeMessageBytes(config),
    keepalive: { timeMs: config.grpcKeepaliveTimeMs, timeoutMs: config.grpcKeepaliveTimeoutMs },
    services: [
      { definition: gatewayService(config.maxFrameBytes), name: 'chat.v1.GatewayService', implementation: grpcGatewayImplementation(gateway, config.maxBufferedBytes) },
      { definition: GroupServiceService, name: 'chat.v1.GroupService', implementation: grpcUnaryImplementation(unary.group, verifier, log) },
      { definition: HistoryServiceService, name: 'chat.v1.HistoryService', implementation: grpcUnaryImplementation(unary.history, verifier, log) },
      {
        definition: SessionServiceService,
        name: 'chat.v1.SessionService',
        implementation: { ...grpcUnaryImplementation(unary.session, verifier, log), ...watchPresenceImplementation(sessions, verifier, log) },
      },
    ],
  });
  const httpPort = await listen(http, config.host, config.httpPort);
  sessions.start();
  await gateway.start();
  ready = true;
  const secure = config.tlsCertFile ? 's' : '';
  log.info({ http: `http${secure}://${config.host}:${httpPort}`, ws: `ws${secure}://${config.host}:${httpPort}/ws`, grpc: `${config.host}:${grpc.port}`, devMode: config.devMode, adapters: { bus: config.bus, sessions: config.sessions, store: config.store } }, 'chatd ready');

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    ready = false;
    grpc.setServing(false);
    await gateway.drain(config.shutdownGraceMs);
    sessions.stop();
    await Promise.all([grpc.close(), new Promise<void>((r) => http.close(() => r()))]);
    await adapters.close();
    metrics.close();
    log.info('chatd stopped');
  };
  return { httpPort, grpcPort: grpc.port, stop: () => (stopping ??= stop()) };
}
