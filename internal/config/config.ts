import { SETTINGS, type Config, type SettingKey } from './config-schema';

export type { Config } from './config-schema';

/** Thrown at startup when the environment does not describe a valid configuration. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads and validates every CHAT_ setting from `env` once, at startup. Errors name the variable.
 * `overrides` supply defaults for one entrypoint (e.g. `make run` turns dev mode on through env,
 * tests pass ports of 0).
 */
export function loadConfig(env: Record<string, string | undefined>, overrides: Partial<Record<SettingKey, string>> = {}): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS)) {
    const raw = env[s.env] ?? overrides[key as SettingKey] ?? s.default;
    const parsed = s.schema.safeParse(raw === '' ? undefined : raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${s.env}=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length === 0) problems.push(...crossCheck(out as Config));
  // A fault point kills or stalls the process on purpose: never in a deployment, whatever else is set.
  if (out.testFault !== undefined && env.NODE_ENV !== 'test') problems.push(`CHAT_TEST_FAULT is a test-only fault point and is refused unless NODE_ENV=test (NODE_ENV=${JSON.stringify(env.NODE_ENV ?? '')})`);
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Config;
}

const CASSANDRA_MAX_TEXT_BYTES = 16384;

function crossCheck(c: Config): string[] {
  const problems: string[] = [];
  const hs = c.jwtAlgorithms.includes('HS256');
  const asym = c.jwtAlgorithms.some((a) => a !== 'HS256');
  if (hs && !c.jwtSecret && !c.devMode) problems.push('CHAT_JWT_SECRET is required for HS256 unless CHAT_DEV_MODE=true');
  if (asym && !c.jwtPublicKeyFile && !c.jwtJwksUrl) problems.push('CHAT_JWT_PUBLIC_KEY_FILE or CHAT_JWT_JWKS_URL is required for RS256/ES256');
  if (c.sessions === 'redis' && !c.redisUrl && !c.redisClusterNodes) problems.push('CHAT_REDIS_URL (or CHAT_REDIS_CLUSTER_NODES) is required for CHAT_SESSIONS=redis');
  if (c.redisClusterNodes && c.redisSentinels) problems.push('CHAT_REDIS_CLUSTER_NODES and CHAT_REDIS_SENTINELS exclude each other (a Redis Cluster fails over by itself)');
  if (c.bus === 'kafka' && !c.kafkaBrokers) problems.push('CHAT_KAFKA_BROKERS is required for CHAT_BUS=kafka');
  if (c.kafkaMinInsyncReplicas !== undefined && c.kafkaMinInsyncReplicas > c.kafkaReplicationFactor) {
    problems.push('CHAT_KAFKA_MIN_INSYNC_REPLICAS must not exceed CHAT_KAFKA_REPLICATION_FACTOR (no publish could succeed)');
  }
  if (c.store === 'cassandra' && !c.cassandraContactPoints) problems.push('CHAT_CASSANDRA_CONTACT_POINTS is required for CHAT_STORE=cassandra');
  // An append batches the message with its conversation head; Cassandra's default
  // batch_size_fail_threshold is 50 KiB, so bodies stay well under half of it.
  if (c.store === 'cassandra' && c.maxTextBytes > CASSANDRA_MAX_TEXT_BYTES) problems.push(`CHAT_MAX_TEXT_BYTES must be at most ${CASSANDRA_MAX_TEXT_BYTES} with CHAT_STORE=cassandra`);
  if (!c.tlsCertFile !== !c.tlsKeyFile) problems.push('CHAT_TLS_CERT_FILE and CHAT_TLS_KEY_FILE go together');
  const grpcTls = [c.grpcTlsCaFile, c.grpcTlsCertFile, c.grpcTlsKeyFile].filter((f) => f !== undefined).length;
  if (grpcTls !== 0 && grpcTls !== 3) problems.push('CHAT_GRPC_TLS_CA_FILE, CHAT_GRPC_TLS_CERT_FILE and CHAT_GRPC_TLS_KEY_FILE go together');
  if (c.defaultPageSize > c.maxPageSize) problems.push('CHAT_DEFAULT_PAGE_SIZE must not exceed CHAT_MAX_PAGE_SIZE');
  if (c.resumeMaxMessages > c.maxPageSize) problems.push('CHAT_RESUME_MAX_MESSAGES must not exceed CHAT_MAX_PAGE_SIZE');
  if (c.presenceTtlMs <= c.heartbeatIntervalMs) problems.push('CHAT_PRESENCE_TTL_MS must exceed CHAT_HEARTBEAT_INTERVAL_MS');
  return problems;
}

/** A chat server's lease TTL: CHAT_SERVER_LEASE_TTL_MS, else the presence TTL less one heartbeat interval. */
export function serverLeaseTtlMs(c: Pick<Config, 'serverLeaseTtlMs' | 'presenceTtlMs' | 'heartbeatIntervalMs'>): number {
  return c.serverLeaseTtlMs ?? c.presenceTtlMs - c.heartbeatIntervalMs;
}

/**
 * A process of the mesh names the settings it cannot run without (its engines, the services it
 * calls); the error lists every missing one with the process that needs it.
 */
export function requireSettings(config: Config, keys: readonly SettingKey[], processName: string): void {
  const set = (k: SettingKey) => config[k] !== undefined && config[k] !== '';
  // A Redis Cluster stands in for the one Redis of CHAT_REDIS_URL.
  const missing = keys
    .filter((k) => !set(k) && !(k === 'redisUrl' && set('redisClusterNodes')))
    .map((k) => `${SETTINGS[k].env}${k === 'redisUrl' ? ' (or CHAT_REDIS_CLUSTER_NODES)' : ''} is required by ${processName}`);
  if (missing.length > 0) throw new ConfigError(missing);
}

/** The configuration table for `--help` and the README. */
export function describeSettings(): string {
  const rows = Object.values(SETTINGS).map((s) => `  ${s.env.padEnd(34)} ${s.description}${s.default !== undefined ? ` (default ${s.default})` : ''}`);
  return `Environment variables:\n${rows.join('\n')}`;
}
