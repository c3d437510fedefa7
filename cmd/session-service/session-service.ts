import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { GroupServiceDefinition } from '../../gen/chat/v1/group';
import { HistoryServiceDefinition } from '../../gen/chat/v1/history';
import { SessionServiceService } from '../../gen/chat/v1/session';
import { serviceSecret, verifierFromConfig } from '../../internal/auth/auth-from-config';
import { ConversationAccess } from '../../internal/chat/conversation-access';
import { KnownConversations } from '../../internal/chat/known-conversations';
import { serverLeaseTtlMs, type Config } from '../../internal/config/config';
import { closeAll, openKafkaBus, openRedis, type Closer } from '../../internal/engines/open-engines';
import { GroupClient } from '../../internal/group/group-client';
import { HistoryClient } from '../../internal/history/history-client';
import type { RunningProcess } from '../../internal/process/run-main';
import { serveProcess } from '../../internal/process/service-process';
import { InboxPublisher } from '../../internal/relay/inbox-publisher';
import { grpcUnaryImplementation } from '../../internal/rpc/grpc-unary';
import { rpcClientFromConfig } from '../../internal/rpc/rpc-client-from-config';
import { MintedServiceToken } from '../../internal/rpc/service-token';
import { sessionRpc, watchPresenceImplementation } from '../../internal/session/session-rpc';
import { RedisSessionStore } from '../../internal/session/session-store-redis';
import { SessionTracker } from '../../internal/session/session-tracker';
import { ChatMetrics } from '../../internal/telemetry/metrics';

/**
 * The session service: connections and presence in Redis; presence transitions and connection
 * changes to the Kafka delivery topics of the chat servers that watch or located those users (no
 * topic every chat server reads); the visibility rule through the group and history services.
 * Wiring only.
 */
export async function startSessionService(config: Config, log: Logger): Promise<RunningProcess> {
  const closers: Closer[] = [];
  try {
    const verifier = await verifierFromConfig(config);
    const credentials = new MintedServiceToken(serviceSecret(config), 'session-service', { issuer: config.jwtIssuer, audience: config.jwtAudience });
    const metrics = new ChatMetrics({ service: 'session-service', instance: `${hostname()}:${config.grpcPort}` });
    const bus = await openKafkaBus(config, log, 'session-service', closers, metrics);
    const redis = await openRedis(config, log, closers);
    const store = new RedisSessionStore({ redis, keyPrefix: `${config.redisKeyPrefix}sessions:`, commandTimeoutMs: config.engineTimeoutMs, outageGraceMs: serverLeaseTtlMs(config) });
    const inboxes = new InboxPublisher({ bus, publishTimeoutMs: config.engineTimeoutMs });
    const tracker = new SessionTracker({
      store,
      send: (serverId, notice) => inboxes.publish(serverId, notice),
      log,
      leaseTtlMs: serverLeaseTtlMs(config),
      maxConnectionsPerUser: config.maxConnectionsPerUser,
      sweepIntervalMs: Math.max(100, Math.floor(config.presenceTtlMs / 10)),
      presenceWatchTtlMs: config.presenceWatchTtlMs,
      locateCacheMs: config.locateCacheMs,
      maxPerNotice: config.maxGroupSize,
    });
    const groups = new GroupClient(rpcClientFromConfig(GroupServiceDefinition, config.groupServiceAddr!, config, credentials, closers));
    const history = new HistoryClient(rpcClientFromConfig(HistoryServiceDefinition, config.historyServiceAddr!, config, credentials, closers));
    const access = new ConversationAccess(groups, new KnownConversations(history, { maxEntries: config.conversationCacheEntries }));
    const methods = sessionRpc({ sessions: tracker, visiblePresences: (viewer, targets) => access.visiblePresences(viewer, targets), maxUsersPerCall: config.maxGroupSize });
    tracker.start();
    closers.push(() => tracker.stop());
    return await serveProcess({
      name: 'session-service',
      config,
      log,
      metrics,
      closers,
      grpcServices: [
        {
          definition: SessionServiceService,
          name: 'chat.v1.SessionService',
          implementation: { ...grpcUnaryImplementation(methods, verifier, log), ...watchPresenceImplementation(tracker, verifier, log) },
        },
      ],
    });
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}
