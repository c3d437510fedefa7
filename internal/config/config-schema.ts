import { z } from 'zod';

/**
 * Every setting of a chat process: one environment variable each, all prefixed CHAT_. This table
 * is the single source for validation, `--help` and the README's configuration table.
 */
export interface Setting {
  env: string;
  description: string;
  default?: string;
  schema: z.ZodType;
}

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().positive();

function setting<S extends z.ZodType>(env: string, description: string, schema: S, def?: string): Setting & { schema: S } {
  return { env, description, schema, default: def };
}

export const SETTINGS = {
  host: setting('CHAT_HOST', 'Address the HTTP/WS and gRPC servers bind to.', z.string().min(1), '127.0.0.1'),
  httpPort: setting('CHAT_HTTP_PORT', 'HTTP port: web API, /ws, /healthz (0 picks a free port).', port, '8080'),
  grpcPort: setting('CHAT_GRPC_PORT', 'gRPC port: every service, health, reflection (0 picks a free port).', port, '9090'),
  dataDir: setting('CHAT_DATA_DIR', 'Directory of the SQLite database (history, groups).', z.string().min(1), './data'),
  webDir: setting('CHAT_WEB_DIR', 'Directory of the built web client served at / (`make web` builds it); relative to the working directory.', z.string().min(1), 'web/dist'),
  sqliteSynchronous: setting('CHAT_SQLITE_SYNCHRONOUS', 'SQLite durability: full (fsync every commit) or normal (WAL; survives a process crash, not a power loss).', z.enum(['full', 'normal']), 'full'),
  sqliteWriterThread: setting('CHAT_SQLITE_WRITER_THREAD', 'Commit history writes (messages, device cursors) on a worker thread with its own SQLite connection, so no commit or fsync runs on the event loop; false commits them on the event loop at the end of each turn.', bool, 'true'),
  sqliteWriteMaxBatch: setting('CHAT_SQLITE_WRITE_MAX_BATCH', 'History writes per SQLite transaction (one commit, one fsync) at most; the writes that queued while a commit ran go in the next one, up to this many.', z.coerce.number().int().min(1).max(100_000), '1000'),
  sqliteWriteMaxQueued: setting('CHAT_SQLITE_WRITE_MAX_QUEUED', 'History writes waiting for the writer thread (besides the batch it commits) at most; a send beyond it gets UNAVAILABLE (retry) instead of memory growing behind a slow disk.', positive, '100000'),
  sqliteWriteLingerMs: setting('CHAT_SQLITE_WRITE_LINGER_MS', 'A history commit on the writer thread starts at least this long after the previous one started, unless CHAT_SQLITE_WRITE_MAX_BATCH writes wait: fewer, fuller commits under load at up to this much more send latency; 0: as soon as the previous one is durable.', z.coerce.number().int().min(0).max(100), '0'),
  devMode: setting('CHAT_DEV_MODE', 'Serve POST /v1/dev/token and accept a built-in dev secret. Never in production.', bool, 'false'),
  serverId: setting('CHAT_SERVER_ID', 'Id of this chat server in the mesh.', z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), 'chatd-1'),
  workerId: setting('CHAT_WORKER_ID', 'Snowflake worker id, 0..1023, of the embedded mode (with CHAT_SESSIONS=redis the id is leased instead).', z.coerce.number().int().min(0).max(1023), '0'),
  logLevel: setting('CHAT_LOG_LEVEL', 'pino log level.', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
  jwtSecret: setting('CHAT_JWT_SECRET', 'HS256 secret for tokens (at least 32 bytes). Required unless a public key is set or dev mode is on.', z.string().min(32).optional()),
  jwtPublicKeyFile: setting('CHAT_JWT_PUBLIC_KEY_FILE', 'PEM (SPKI) public key file for RS256/ES256 tokens.', z.string().min(1).optional()),
  jwtJwksUrl: setting('CHAT_JWT_JWKS_URL', 'JWKS endpoint (the identity provider\'s jwks_uri) for RS256/ES256 tokens; keys are chosen by kid, cached, refetched for unknown kids. Instead of CHAT_JWT_PUBLIC_KEY_FILE.', z.string().url().optional()),
  jwtAlgorithms: setting('CHAT_JWT_ALGORITHMS', 'Comma-separated accepted algorithms (pinned), from HS256, RS256, ES256.', z.string().transform((s) => s.split(',').map((a) => a.trim())).pipe(z.array(z.enum(['HS256', 'RS256', 'ES256'])).min(1)), 'HS256'),
  jwtIssuer: setting('CHAT_JWT_ISSUER', 'Required `iss` claim, if set.', z.string().min(1).optional()),
  jwtAudience: setting('CHAT_JWT_AUDIENCE', 'Required `aud` claim, if set.', z.string().min(1).optional()),
  jwtClockToleranceSec: setting('CHAT_JWT_CLOCK_TOLERANCE_SEC', 'Allowed clock skew for exp/nbf, seconds.', z.coerce.number().int().min(0).max(300), '30'),
  devTokenTtlSec: setting('CHAT_DEV_TOKEN_TTL_SEC', 'Lifetime of dev tokens, seconds.', positive, '86400'),
  heartbeatIntervalMs: setting('CHAT_HEARTBEAT_INTERVAL_MS', 'How often clients heartbeat (told in `welcome`).', positive, '5000'),
  presenceTtlMs: setting('CHAT_PRESENCE_TTL_MS', 'A connection without a heartbeat for this long is offline.', positive, '10000'),
  serverLeaseTtlMs: setting('CHAT_SERVER_LEASE_TTL_MS', 'Session service: a chat server\'s lease (one renewal every third of it keeps all its connections live; client heartbeats stay on the chat server). When it lapses, the server\'s users go offline; default CHAT_PRESENCE_TTL_MS minus CHAT_HEARTBEAT_INTERVAL_MS, so a dead server\'s users are offline within CHAT_PRESENCE_TTL_MS (plus one sweep) of their last heartbeat.', positive.optional()),
  maxFrameBytes: setting('CHAT_MAX_FRAME_BYTES', 'Largest client frame: a larger WS frame gets a TOO_LARGE error (over 4x it, the socket closes with 1009), a larger gRPC Connect frame a TOO_LARGE error (the stream stays open); also the HTTP body cap.', positive, '65536'),
  maxTextBytes: setting('CHAT_MAX_TEXT_BYTES', 'Largest message text, UTF-8 bytes.', positive, '4096'),
  sendRatePerSec: setting('CHAT_SEND_RATE_PER_SEC', 'Sustained sends per connection per second (token bucket).', positive, '20'),
  sendBurst: setting('CHAT_SEND_BURST', 'Send burst per connection (token bucket size).', positive, '40'),
  typingRatePerSec: setting('CHAT_TYPING_RATE_PER_SEC', 'Typing frames per connection per second (burst twice that); more get RATE_LIMITED.', positive, '2'),
  typingMaxGroupSize: setting('CHAT_TYPING_MAX_GROUP_SIZE', 'Typing indicators are not fanned out in groups with more members than this.', positive, '50'),
  maxProtocolErrors: setting('CHAT_MAX_PROTOCOL_ERRORS', 'Malformed or unknown frames tolerated per connection before it is closed.', positive, '10'),
  maxGroupSize: setting('CHAT_MAX_GROUP_SIZE', 'Members per group.', positive, '500'),
  maxGroupNameBytes: setting('CHAT_MAX_GROUP_NAME_BYTES', 'Longest group name, UTF-8 bytes.', positive, '128'),
  defaultPageSize: setting('CHAT_DEFAULT_PAGE_SIZE', 'History page size when the client gives none.', positive, '50'),
  maxPageSize: setting('CHAT_MAX_PAGE_SIZE', 'Largest history page.', positive, '100'),
  maxPresenceSubscriptions: setting('CHAT_MAX_PRESENCE_SUBSCRIPTIONS', 'Users one connection may watch.', positive, '500'),
  maxConnectionsPerUser: setting('CHAT_MAX_CONNECTIONS_PER_USER', 'Live connections per user.', positive, '10'),
  maxConnectionsPerIp: setting('CHAT_MAX_CONNECTIONS_PER_IP', 'Open WebSocket connections per client IP address on one server; more are refused with HTTP 429. 0: no limit (behind a proxy every client shares its address).', z.coerce.number().int().min(0), '0'),
  userSendRatePerSec: setting('CHAT_USER_SEND_RATE_PER_SEC', 'Sustained sends per user per second, over all its connections to one server (token bucket); default twice CHAT_SEND_RATE_PER_SEC.', positive.optional()),
  userSendBurst: setting('CHAT_USER_SEND_BURST', 'Send burst per user over all its connections to one server; default twice CHAT_SEND_BURST.', positive.optional()),
  handshakeTimeoutMs: setting('CHAT_HANDSHAKE_TIMEOUT_MS', 'A connection that has not completed hello within this long is closed (WS 4008).', positive, '10000'),
  allowedOrigins: setting('CHAT_ALLOWED_ORIGINS', 'Comma-separated browser origins (e.g. https://chat.example.com) allowed to open /ws besides same-origin pages, or *. Clients without an Origin header (not browsers) are always allowed; other origins get HTTP 403.', z.string().transform((s) => s.split(',').map((o) => o.trim()).filter((o) => o.length > 0)).pipe(z.array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, 'each origin is scheme://host[:port] or *')).min(1)).optional()),
  tlsCertFile: setting('CHAT_TLS_CERT_FILE', 'PEM certificate chain for the HTTP/WS port: with CHAT_TLS_KEY_FILE it serves https and wss only.', z.string().min(1).optional()),
  tlsKeyFile: setting('CHAT_TLS_KEY_FILE', 'PEM private key of CHAT_TLS_CERT_FILE.', z.string().min(1).optional()),
  grpcTlsCaFile: setting('CHAT_GRPC_TLS_CA_FILE', 'Mesh: PEM of the internal CA. With the two below, internal gRPC is mTLS: servers require client certificates of this CA, clients trust only it.', z.string().min(1).optional()),
  grpcTlsCertFile: setting('CHAT_GRPC_TLS_CERT_FILE', 'Mesh: PEM certificate of this process, signed by the internal CA (used as server and as client).', z.string().min(1).optional()),
  grpcTlsKeyFile: setting('CHAT_GRPC_TLS_KEY_FILE', 'Mesh: PEM private key of CHAT_GRPC_TLS_CERT_FILE.', z.string().min(1).optional()),
  grpcKeepaliveTimeMs: setting('CHAT_GRPC_KEEPALIVE_TIME_MS', 'gRPC servers ping each client connection this often (keepalive), to find dead peers.', positive, '30000'),
  grpcMaxConnectionAgeMs: setting('CHAT_GRPC_MAX_CONNECTION_AGE_MS', 'Session, group and history services: a client connection is closed (GOAWAY; calls in flight get CHAT_RPC_TIMEOUT_MS to finish) this long after it opened, so clients resolve the service\'s name again and replicas added by scaling out get calls. 0: never.', z.coerce.number().int().min(0), '300000'),
  grpcKeepaliveTimeoutMs: setting('CHAT_GRPC_KEEPALIVE_TIMEOUT_MS', 'A gRPC client that does not answer a keepalive ping within this long is disconnected.', positive, '10000'),
  resumeMaxMessages: setting('CHAT_RESUME_MAX_MESSAGES', 'Messages replayed per conversation after hello (at most CHAT_MAX_PAGE_SIZE); beyond it a gap frame (REPLAY_LIMIT) tells the client to page.', positive, '100'),
  resumeMaxConversations: setting('CHAT_RESUME_MAX_CONVERSATIONS', 'Conversations replayed after hello; the others get a gap frame (TOO_MANY_CONVERSATIONS).', positive, '200'),
  resumeOverlapMs: setting('CHAT_RESUME_OVERLAP_MS', 'A resume replays from the device position moved back this much Snowflake time, so ids a little older than one already seen (clock skew between chat servers, the slower Kafka path) are not skipped; clients dedupe by id.', z.coerce.number().int().min(0), '30000'),
  resumeSyncWaitMs: setting('CHAT_RESUME_SYNC_WAIT_MS', 'Mesh: before a resume reads history, it waits at most this long for the sync worker to store every message already in the log; past it the replay sends what history has plus a gap frame (HISTORY_BEHIND).', z.coerce.number().int().min(0), '3000'),
  maxBufferedBytes: setting('CHAT_MAX_BUFFERED_BYTES', 'Unsent bytes queued to one slow client before it is disconnected.', positive, '4194304'),
  closeTimeoutMs: setting('CHAT_CLOSE_TIMEOUT_MS', 'A WebSocket the server closes (timeout, protocol, shutdown) is cut when the client has not answered the close handshake within this long: a client that stopped reading never answers, and would hold its socket and backlog.', positive, '2000'),
  bus: setting('CHAT_BUS', 'Message bus adapter: memory (in-process) or kafka.', z.enum(['memory', 'kafka']), 'memory'),
  sessions: setting('CHAT_SESSIONS', 'Sessions and presence adapter: memory or redis.', z.enum(['memory', 'redis']), 'memory'),
  store: setting('CHAT_STORE', 'History and groups adapter: sqlite or cassandra.', z.enum(['sqlite', 'cassandra']), 'sqlite'),
  redisUrl: setting('CHAT_REDIS_URL', 'Redis for CHAT_SESSIONS=redis, e.g. redis://127.0.0.1:16379.', z.string().url().optional()),
  redisSentinels: setting('CHAT_REDIS_SENTINELS', 'Redis through Sentinel: comma-separated host:port of the sentinels to ask for the primary of CHAT_REDIS_SENTINEL_NAME. Processes then follow a failover to the promoted replica; CHAT_REDIS_URL gives only the password and database.', z.string().regex(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, 'must be host:port[,host:port...]').optional()),
  redisSentinelName: setting('CHAT_REDIS_SENTINEL_NAME', 'The primary\'s name the sentinels monitor (with CHAT_REDIS_SENTINELS).', z.string().min(1), 'chat'),
  redisClusterNodes: setting('CHAT_REDIS_CLUSTER_NODES', 'Redis Cluster instead of one Redis: comma-separated host:port of some of its nodes (the client learns the others); every call goes to the primary of its key\'s slot. CHAT_REDIS_URL, if set, gives only the password. Not with CHAT_REDIS_SENTINELS.', z.string().regex(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, 'must be host:port[,host:port...]').optional()),
  redisKeyPrefix: setting('CHAT_REDIS_KEY_PREFIX', 'Prefix of every Redis key this deployment writes.', z.string().min(1), 'chat:'),
  kafkaBrokers: setting('CHAT_KAFKA_BROKERS', 'Comma-separated Kafka bootstrap brokers for CHAT_BUS=kafka.', z.string().min(1).optional()),
  kafkaTopicPrefix: setting('CHAT_KAFKA_TOPIC_PREFIX', 'Prefix of every Kafka topic this deployment uses (none by default).', z.string().regex(/^[A-Za-z0-9._-]+$/).optional()),
  kafkaPartitions: setting('CHAT_KAFKA_PARTITIONS', 'Partitions of topics created at startup.', positive, '3'),
  kafkaLingerMs: setting('CHAT_KAFKA_LINGER_MS', 'Mesh: a publish waits up to this long for others to share its Kafka produce request when none is in flight (linger.ms): fewer requests per message under load, at this much more send latency. 0: only the publishes of one event-loop turn share a request.', z.coerce.number().int().min(0).max(100), '2'),
  kafkaReplicationFactor: setting('CHAT_KAFKA_REPLICATION_FACTOR', 'Replication factor of topics created at startup.', positive, '1'),
  kafkaMinInsyncReplicas: setting('CHAT_KAFKA_MIN_INSYNC_REPLICAS', 'min.insync.replicas of the topics this deployment creates (every publish is acks=all, so a publish fails unless this many replicas have it; e.g. 2 of 3). Unset: the broker\'s default.', positive.optional()),
  cassandraContactPoints: setting('CHAT_CASSANDRA_CONTACT_POINTS', 'Comma-separated host:port contact points for CHAT_STORE=cassandra.', z.string().min(1).optional()),
  cassandraLocalDc: setting('CHAT_CASSANDRA_LOCAL_DC', 'Cassandra local data center.', z.string().min(1), 'datacenter1'),
  cassandraKeyspace: setting('CHAT_CASSANDRA_KEYSPACE', 'Cassandra keyspace (created if missing).', z.string().regex(/^[a-z][a-z0-9_]{0,47}$/), 'chat'),
  cassandraReplicationFactor: setting('CHAT_CASSANDRA_REPLICATION_FACTOR', 'Replication factor when the keyspace is created.', positive, '1'),
  cassandraConsistency: setting('CHAT_CASSANDRA_CONSISTENCY', 'Consistency level of reads and writes.', z.enum(['LOCAL_QUORUM', 'QUORUM', 'LOCAL_ONE', 'ONE', 'ALL']), 'LOCAL_QUORUM'),
  cassandraSpeculativeDelayMs: setting('CHAT_CASSANDRA_SPECULATIVE_DELAY_MS', 'An idempotent Cassandra statement (every read, the sync worker\'s writes) unanswered after this long is also sent to another node, first answer wins: a node that died costs a read this much instead of the request timeout until the cluster notices. 0: off.', z.coerce.number().int().min(0), '300'),
  workerLeaseTtlMs: setting('CHAT_WORKER_LEASE_TTL_MS', 'With CHAT_SESSIONS=redis, the Snowflake worker id is leased in Redis for this long, renewed every third. A lost lease (Redis forgot it, renewals stalled past it) refuses sends until a new one is acquired in place, retried every tenth of this, backing off.', positive, '15000'),
  syncMaxBatch: setting('CHAT_SYNC_MAX_BATCH', 'Mesh sync worker: message log records written to history per batch at most (one store round per batch; a batch holds what waited on a partition, see CHAT_SYNC_LINGER_MS).', positive, '256'),
  syncLingerMs: setting('CHAT_SYNC_LINGER_MS', 'Mesh sync worker: a batch that is not full waits up to this long for more records (fewer, fuller Cassandra rounds at low load, at this much more sync lag; 0: write what waited at once). A full batch never waits.', z.coerce.number().int().min(0), '100'),
  syncWriteConcurrency: setting('CHAT_SYNC_WRITE_CONCURRENCY', 'Mesh sync worker: Cassandra statements one batch has in flight at most.', positive, '32'),
  engineTimeoutMs: setting('CHAT_ENGINE_TIMEOUT_MS', 'Deadline of each Redis, Kafka or Cassandra call.', positive, '5000'),
  sessionServiceAddr: setting('CHAT_SESSION_SERVICE_ADDR', 'Mesh: the session service (gRPC), for chat servers, the API server and nothing in chatd: host:port, a list ip:port,ip:port of its replicas, or dns:///name:port (calls go round robin over every replica that is up).', z.string().min(1).optional()),
  groupServiceAddr: setting('CHAT_GROUP_SERVICE_ADDR', 'Mesh: the group service (gRPC), as CHAT_SESSION_SERVICE_ADDR.', z.string().min(1).optional()),
  historyServiceAddr: setting('CHAT_HISTORY_SERVICE_ADDR', 'Mesh: the history service (gRPC), as CHAT_SESSION_SERVICE_ADDR.', z.string().min(1).optional()),
  advertiseAddr: setting('CHAT_ADVERTISE_ADDR', 'Mesh: host:port where peer chat servers reach this one\'s RelayService (default CHAT_HOST:CHAT_GRPC_PORT).', z.string().min(1).optional()),
  rpcTimeoutMs: setting('CHAT_RPC_TIMEOUT_MS', 'Mesh: deadline of each call to another service, retries included.', positive, '3000'),
  rpcMaxMessageBytes: setting('CHAT_RPC_MAX_MESSAGE_BYTES', 'Largest gRPC message a server accepts (chatd, services, chat servers; a larger one ends its call with RESOURCE_EXHAUSTED) and an internal client receives (batches of registrations, locates, relay deliveries); client frames stay capped by CHAT_MAX_FRAME_BYTES.', positive, '4194304'),
  rpcMaxAttempts: setting('CHAT_RPC_MAX_ATTEMPTS', 'Mesh: attempts per internal call on UNAVAILABLE, with exponential backoff.', z.coerce.number().int().min(1).max(5), '3'),
  ackFlushMs: setting('CHAT_ACK_FLUSH_MS', 'A chat server writes what its devices acknowledged (resume positions, DELIVERED watermarks and their receipts) in one batch at most this long after the first pending ack; receipts lag acks by up to this much.', positive, '1000'),
  ackMaxBatch: setting('CHAT_ACK_MAX_BATCH', 'Devices per SaveDeviceCursorsBatch and GetDeviceCursorsBatch call, and watermarks per AdvanceReceipts call, at most; a chat server with this many devices\' acks pending writes them at once.', positive, '500'),
  locateCacheMs: setting('CHAT_LOCATE_CACHE_MS', 'Mesh: how long a chat server caches where a user is connected (dropped at once when the session service reports a change: it remembers this long which servers asked; set it alike on chat servers and the session service; 0 disables).', z.coerce.number().int().min(0), '10000'),
  presenceWatchTtlMs: setting('CHAT_PRESENCE_WATCH_TTL_MS', 'How long the session service sends a chat server the presence changes of a user one of its connections subscribed to; the chat server renews its watches every third of this while a connection still watches. Presence changes go only to the servers watching.', positive, '60000'),
  conversationCacheEntries: setting('CHAT_CONVERSATION_CACHE_ENTRIES', 'Mesh: (user, DM) pairs a chat server or the session service remembers as having a message, at most (least recently used out first), so the presence visibility rule asks the history service once per pair; a DM never stops existing, so an entry never goes stale. 0 remembers none.', z.coerce.number().int().min(0), '100000'),
  locateCacheUsers: setting('CHAT_LOCATE_CACHE_USERS', 'Mesh: users whose location a chat server caches at most.', positive, '100000'),
  webWsUrls: setting('CHAT_WEB_WS_URLS', 'Mesh api-server: comma-separated chat server WebSocket URLs (ws[s]://host:port/ws) that the web client it serves connects to (listed in /web-config.json).', z.string().transform((s) => s.split(',').map((u) => u.trim()).filter((u) => u.length > 0)).pipe(z.array(z.string().regex(/^wss?:\/\/\S+$/, 'each URL is ws://host:port/ws or wss://...')).min(1)).optional()),
  relayEnabled: setting('CHAT_RELAY_ENABLED', 'Mesh: relay to peer chat servers over gRPC streams; false sends every remote delivery through the Kafka fallback (for networks without pod-to-pod traffic, and to benchmark the fallback).', bool, 'true'),
  relayFlushMs: setting('CHAT_RELAY_FLUSH_MS', 'Mesh: a relay batch to a peer leaves after this long even when not full.', positive, '2'),
  relayMaxBatch: setting('CHAT_RELAY_MAX_BATCH', 'Mesh: deliveries and typing/receipt events per relay batch at most; a full batch leaves at once.', positive, '256'),
  relayMaxInFlight: setting('CHAT_RELAY_MAX_IN_FLIGHT', 'Mesh: relay batches to one peer written and not yet acknowledged, at most (the window); further deliveries wait in the peer\'s queue and leave in bigger batches as acknowledgements come back.', positive, '4'),
  relayMaxQueued: setting('CHAT_RELAY_MAX_QUEUED', 'Mesh: deliveries and typing/receipt events waiting in the relay queue of one peer (window full or stream write buffer full), at most; one beyond it goes to the Kafka fallback (reason queue_full).', positive, '4096'),
  relayAckTimeoutMs: setting('CHAT_RELAY_ACK_TIMEOUT_MS', 'Mesh: a relay peer with batches unacknowledged that acknowledges nothing for this long (or skips a batch, acknowledging later ones, for this long) is taken for dead: its unacknowledged and queued deliveries go to the Kafka fallback. A peer that acknowledges slowly keeps its stream; set this above the longest event-loop stall a live peer has.', positive, '3000'),
  relayRetryBackoffMs: setting('CHAT_RELAY_RETRY_BACKOFF_MS', 'Mesh: after a relay stream fails, deliveries to that peer use the fallback for this long (doubling, up to 10x) before the stream is reopened.', positive, '500'),
  sendDedupeTtlSec: setting('CHAT_SEND_DEDUPE_TTL_SEC', 'Mesh: how long a client_msg_id is remembered (in Redis) so a retried send gets the original message id.', positive, '86400'),
  sequenceTtlSec: setting('CHAT_SEQUENCE_TTL_SEC', "Mesh: how long Redis keeps a conversation's numbering (its last seq and epoch) after its last message; a conversation idle longer starts a new epoch at seq 1, which clients take as a gap and close from history.", positive, '2592000'),
  sendClockSkewMaxMs: setting('CHAT_SEND_CLOCK_SKEW_MAX_MS', "Mesh: a send whose conversation already holds a newer message id (another chat server's clock runs ahead) waits up to this long for this server's clock to pass it, then is numbered; a larger skew fails the send UNAVAILABLE.", z.coerce.number().int().min(0), '2000'),
  traceFile: setting('CHAT_TRACE_FILE', 'Write every OpenTelemetry span as a JSON line to this file (tracing is off without it).', z.string().min(1).optional()),
  shutdownGraceMs: setting('CHAT_SHUTDOWN_GRACE_MS', 'How long SIGTERM waits for clients to leave after go_away.', z.coerce.number().int().min(0), '2000'),
} as const satisfies Record<string, Setting>;

export type SettingKey = keyof typeof SETTINGS;
export type Config = { [K in SettingKey]: z.output<(typeof SETTINGS)[K]['schema']> };
