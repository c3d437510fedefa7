import type { Logger } from 'pino';
import { GroupServiceDefinition } from '../../gen/chat/v1/group';
import { HistoryServiceDefinition } from '../../gen/chat/v1/history';
import { RelayServiceService } from '../../gen/chat/v1/relay';
import { SessionServiceDefinition } from '../../gen/chat/v1/session';
import { devIssuerFromConfig, serviceSecret, verifierFromConfig } from '../../internal/auth/auth-from-config';
import { ConversationAccess } from '../../internal/chat/conversation-access';
import { KnownConversations, notingDelivery } from '../../internal/chat/known-conversations';
import { pushEphemeral } from '../../internal/ephemeral/ephemeral-events';
import { MeshEphemeralPublisher } from '../../internal/ephemeral/ephemeral-publisher-mesh';
import { SharedForwardPages } from '../../internal/chat/shared-forward-pages';
import { HistoryQueries } from '../../internal/chat/history-queries';
import { MessageService } from '../../internal/chat/message-service';
import type { Config } from '../../internal/config/config';
import { closeAll, leasedWorkerIds, openKafkaBus, openRedis, type Closer } from '../../internal/engines/open-engines';
import { AckBatcher } from '../../internal/gateway/ack-batcher';
import { ConnectionRegistry } from '../../internal/gateway/connection-registry';
import { Gateway } from '../../internal/gateway/gateway';
import { PresenceWatches } from '../../internal/gateway/presence-watches';
import { gatewayService, grpcEdgeMessageBytes, grpcGatewayImplementation } from '../../internal/gateway/grpc-gateway';
import { attachWebSocket } from '../../internal/gateway/ws-transport';
import { GroupClient } from '../../internal/group/group-client';
import { HistoryClient } from '../../internal/history/history-client';
import { createHttpApi } from '../../internal/httpapi/http-api';
import { listen } from '../../internal/httpapi/listen';
import { meshHttpMethods } from '../../internal/httpapi/mesh-http-methods';
import { KafkaLogOffsets } from '../../internal/messagelog/kafka-log-offsets';
import { LogCatchUp } from '../../internal/messagelog/log-catch-up';
import { LoggedAppender } from '../../internal/messagelog/logged-appender';
import { MESSAGE_LOG_TOPIC, SYNC_WORKER_GROUP } from '../../internal/messagelog/message-log';
import { RedisSendClaims } from '../../internal/messagelog/send-claims-redis';
import type { RunningProcess } from '../../internal/process/run-main';
import { dieAfterAppend, holdFallback } from '../../internal/process/test-faults';
import { ReceiptClient } from '../../internal/receipts/receipt-client';
import { ReceiptService } from '../../internal/receipts/receipt-service';
import { DeliveryFallback } from '../../internal/relay/delivery-fallback';
import { pushDeliveries } from '../../internal/relay/local-push';
import { LocateCache } from '../../internal/relay/locate-cache';
import { MeshDelivery } from '../../internal/relay/mesh-delivery';
import { RelayRouter } from '../../internal/relay/relay-router';
import { relayServiceImplementation } from '../../internal/relay/relay-server';
import type { ServerInbox } from '../../internal/relay/server-inbox';
import { httpTlsFromConfig } from '../../internal/httpapi/tls-files';
import { grpcTlsFromConfig } from '../../internal/rpc/grpc-tls';
import { startGrpcServer } from '../../internal/rpc/grpc-server';
import { rpcClientFromConfig } from '../../internal/rpc/rpc-client-from-config';
import { MintedServiceToken } from '../../internal/rpc/service-token';
import { SessionClient } from '../../internal/session/session-client';
import { ChatMetrics } from '../../internal/telemetry/metrics';
import { TypingService } from '../../internal/typing/typing-service';

/**
 * A chat server of the mesh: the WebSocket and GatewayService edge, the RelayService between chat
 * servers, sends appended to the Kafka message log, deliveries relayed to the servers holding the
 * recipients with the Kafka fallback, and the session, group and history services reached over
 * gRPC. Wiring only; behaviour lives in internal/.
 */
export async function startChatServer(config: Config, log: Logger): Promise<RunningProcess> {
  const closers: Closer[] = [];
  try {
    return await compose(config, log.child({ server: config.serverId }), closers);
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}

async function compose(config: Config, log: Logger, closers: Closer[]): Promise<RunningProcess> {
  const metrics = new ChatMetrics({ service: 'chat-server', instance: config.serverId });
  const verifier = await verifierFromConfig(config);
  const credentials = new MintedServiceToken(serviceSecret(config), `chat-server-${config.serverId}`, { issuer: config.jwtIssuer, audience: config.jwtAudience });
  const bus = await openKafkaBus(config, log, config.serverId, closers, metrics);
  const redis = await openRedis(config, log, closers);
  const ids = await leasedWorkerIds(redis, config, log, closers);

  const sessionRpc = rpcClientFromConfig(SessionServiceDefinition, config.sessionServiceAddr!, config, credentials, closers);
  const historyRpc = rpcClientFromConfig(HistoryServiceDefinition, config.historyServiceAddr!, config, credentials, closers);
  const sessions = new SessionClient(sessionRpc, { serverId: config.serverId, maxConnectionsPerCall: config.maxGroupSize });
  const history = new HistoryClient(historyRpc, { maxDevicesPerCall: config.ackMaxBatch, maxPagesPerCall: config.historyBatchMaxPages });
  // Fed by what this server sends and receives (notingDelivery, the inbox), so a presence check
  // for a DM partner rarely asks the history service.
  const known = new KnownConversations(history, { maxEntries: config.conversationCacheEntries });
  const access = new ConversationAccess(new GroupClient(rpcClientFromConfig(GroupServiceDefinition, config.groupServiceAddr!, config, credentials, closers), { maxChecksPerCall: config.membershipCheckMaxBatch }), known);

  const registry = new ConnectionRegistry();
  // Invalidated through the inbox (connectionsChanged), by the session service's notices to this server only.
  const locations = new LocateCache(sessions, { serverId: config.serverId, ttlMs: config.locateCacheMs, maxUsers: config.locateCacheUsers });
  const fallback = new DeliveryFallback({ bus, metrics, log, publishTimeoutMs: config.engineTimeoutMs, holdDeliveries: holdFallback(config.testFault, log) });
  const router = new RelayRouter({
    serverId: config.serverId,
    enabled: config.relayEnabled,
    credentials,
    tls: grpcTlsFromConfig(config),
    fallback,
    metrics,
    log,
    flushMs: config.relayFlushMs,
    maxBatch: config.relayMaxBatch,
    maxInFlight: config.relayMaxInFlight,
    maxQueued: config.relayMaxQueued,
    ackTimeoutMs: config.relayAckTimeoutMs,
    retryBackoffMs: config.relayRetryBackoffMs,
  });
  const messages = new MessageService({
    appender: new LoggedAppender({ bus, claims: new RedisSendClaims({ redis, keyPrefix: config.redisKeyPrefix, ttlMs: config.sendDedupeTtlSec * 1000, sequenceTtlMs: config.sequenceTtlSec * 1000, commandTimeoutMs: config.engineTimeoutMs }), publishTimeoutMs: config.engineTimeoutMs }),
    access,
    ids,
    metrics,
    delivery: notingDelivery(known, new MeshDelivery({ serverId: config.serverId, registry, sessions: locations, router, metrics, log, locateRetryMs: config.deliveryLocateRetryMs })),
    limits: config,
    log,
    afterAppend: dieAfterAppend(config.testFault, log),
  });
  const ephemeral = new MeshEphemeralPublisher({ serverId: config.serverId, registry, locations, router });
  const historyCatchUp = await syncWorkerProgress(config, log, closers);
  const receipts = new ReceiptService({ store: new ReceiptClient(historyRpc), messages: history, access, ephemeral, historyCatchUp, historyWaitMs: config.resumeSyncWaitMs });
  const advertise = config.advertiseAddr ?? `${config.host}:${config.grpcPort}`;
  const gateway = new Gateway(
    {
      serverId: config.serverId,
      serverAddress: advertise,
      verifier,
      sessions,
      messages,
      // Resumes of one conversation at once (a reconnect storm) share their history reads.
      history: new HistoryQueries(new SharedForwardPages(history), access, config),
      access,
      cursors: history,
      acks: new AckBatcher({ cursors: history, receipts, flushMs: config.ackFlushMs, maxBatch: config.ackMaxBatch, log }),
      historyCatchUp,
      registry,
      presenceWatches: new PresenceWatches({ sessions, serverId: config.serverId, ttlMs: config.presenceWatchTtlMs, maxPerCall: config.maxGroupSize, watched: () => registry.watchedUsers(), log, now: Date.now }),
      typing: new TypingService({ access, ephemeral, maxGroupSize: config.typingMaxGroupSize }),
      receipts,
      limits: config,
      log,
      now: Date.now,
    },
  );

  // What peers (relay streams) and the session service (delivery topic) send this server's
  // connections: one inbox for both paths, counted into chat_inbox_items_total.
  const inbox: ServerInbox = {
    counter: metrics.inboxItems,
    deliveries: (ds, path) => {
      for (const d of ds) known.noteMessage(d.message);
      pushDeliveries(registry, metrics, path, ds);
    },
    events: (es) => pushEphemeral(registry, es),
    presences: (ps) => ps.forEach((p) => registry.publishPresence(p)),
    connectionsChanged: (userIds) => userIds.forEach((u) => locations.invalidate(u)),
  };
  // This server's Kafka delivery topic; consumed before serving, so nothing published for it
  // after its first connection registers is missed.
  const fallbackSub = fallback.consume(config.serverId, inbox);
  await fallbackSub.ready;
  await gateway.start();

  let ready = false;
  const http = createHttpApi({
    methods: meshHttpMethods(config, closers),
    verifier,
    devTokens: devIssuerFromConfig(config),
    ready: () => ready,
    maxBodyBytes: config.maxFrameBytes,
    log,
    staticDir: config.webDir,
    metrics,
    tls: httpTlsFromConfig(config),
  });
  attachWebSocket(http, gateway, { path: '/ws', maxFrameBytes: config.maxFrameBytes, maxBufferedBytes: config.maxBufferedBytes, closeTimeoutMs: config.closeTimeoutMs, allowedOrigins: config.allowedOrigins, maxConnectionsPerIp: config.maxConnectionsPerIp });
  const grpc = await startGrpcServer({
    host: config.host,
    port: config.grpcPort,
    maxMessageBytes: grpcEdgeMessageBytes(config),
    keepalive: { timeMs: config.grpcKeepaliveTimeMs, timeoutMs: config.grpcKeepaliveTimeoutMs },
    tls: grpcTlsFromConfig(config),
    services: [
      { definition: gatewayService(config.maxFrameBytes), name: 'chat.v1.GatewayService', implementation: grpcGatewayImplementation(gateway, config.maxBufferedBytes) },
      { definition: RelayServiceService, name: 'chat.v1.RelayService', implementation: relayServiceImplementation({ serverId: config.serverId, verifier, inbox, log }) },
    ],
  });
  const httpPort = await listen(http, config.host, config.httpPort);
  const connections = setInterval(() => metrics.connections.set(gateway.connectionCount), 1000).unref();
  ready = true;
  log.info({ http: `http${config.tlsCertFile ? 's' : ''}://${config.host}:${httpPort}`, grpc: `${config.host}:${grpc.port}`, advertise }, 'chat-server ready');

  let stopping: Promise<void> | undefined;
  return {
    // Drain order: refuse new work, tell clients go_away (their sessions unregister as they
    // leave), flush the relays (unacknowledged batches go to Kafka), then close the bus, which
    // flushes the producer, and everything else.
    stop: () =>
      (stopping ??= (async () => {
        ready = false;
        clearInterval(connections);
        grpc.setServing(false);
        await gateway.drain(config.shutdownGraceMs);
        await router.close();
        await fallback.drain();
        await fallbackSub.close();
        await Promise.all([grpc.close(), new Promise<void>((r) => http.close(() => r()))]);
        await closeAll(closers);
        log.info('chat-server stopped');
      })()),
  };
}

/** How a resume learns that the sync worker has written everything in the log to history. */
async function syncWorkerProgress(config: Config, log: Logger, closers: Closer[]): Promise<LogCatchUp> {
  const offsets = await KafkaLogOffsets.connect({
    brokers: config.kafkaBrokers!.split(',').map((b) => b.trim()),
    clientId: `${config.serverId}.resume`,
    topic: (config.kafkaTopicPrefix ?? '') + MESSAGE_LOG_TOPIC,
    group: SYNC_WORKER_GROUP,
    requestTimeoutMs: config.engineTimeoutMs,
    log,
  });
  closers.push(() => offsets.close());
  return new LogCatchUp(offsets, { pollMs: 50 });
}
