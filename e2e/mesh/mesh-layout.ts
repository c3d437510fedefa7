import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { requireEngineEnv, uniquePrefix } from '../../internal/testing/engines';
import { freePorts } from '../../internal/testing/free-port';
import { MeshProcess } from './mesh-process';

export type ServiceName = 'session' | 'group' | 'history' | 'sync' | 'api';

/** The back-end processes of a test mesh (not started) and what chat servers need to join it. */
export interface MeshLayout {
  dir: string;
  distDir: string;
  /** The environment every process shares. */
  common: Record<string, string>;
  services: Record<ServiceName, { process: MeshProcess; http: string }>;
  /** The further replicas of each service (`replicas` - 1 each; none by default; `syncWorkers` - 1 sync workers), started with the first. */
  standby: Record<ServiceName, Array<{ process: MeshProcess; http: string }>>;
  /** Two free ports (http, grpc) per chat server. */
  chatPorts: Array<{ http: number; grpc: number }>;
}

/**
 * Lays out a mesh on the engines of `deploy/local/with-test-engines`: its own keyspace, Redis
 * prefix and topic prefix, free ports, one log dir, the built tree (`make build`; CHAT_TEST_DIST
 * overrides it). Shared by the end-to-end tests and the fault suite.
 */
export async function layoutMesh(opts: {
  tag: string;
  secret: string;
  chatServers: number;
  replicas?: number;
  /** Sync workers (one consumer group on the message log); default `replicas`. Those past `replicas` go in `standby.sync`. */
  syncWorkers?: number;
  traces?: boolean;
  env?: Record<string, string>;
}): Promise<MeshLayout> {
  const dir = mkdtempSync(join(tmpdir(), `${opts.tag}-`));
  const distDir = resolve(process.env.CHAT_TEST_DIST ?? join(__dirname, '..', '..', 'dist'));
  const prefix = uniquePrefix(opts.tag);
  const replicas = opts.replicas ?? 1;
  const syncWorkers = opts.syncWorkers ?? replicas;
  if (!Number.isSafeInteger(syncWorkers) || syncWorkers < 1) throw new RangeError(`syncWorkers must be a positive integer, got ${syncWorkers}`);
  const extraSync = Math.max(0, syncWorkers - replicas);
  // Per replica: grpc ports of session, group, history; http ports of those, the sync worker and the api-server.
  // Then two per chat server, then the http port of each sync worker past the replicas.
  const ports = await freePorts(8 * replicas + 2 * opts.chatServers + extraSync);
  const replicaPorts = Array.from({ length: replicas }, (_, r) => ports.slice(8 * r, 8 * r + 8));
  const rest = ports.slice(8 * replicas);
  const extraSyncPorts = rest.slice(2 * opts.chatServers);
  // Chat servers and the api-server spread their calls over every replica (round robin, grpc-client.ts).
  const addresses = (slot: number) => replicaPorts.map((p) => `127.0.0.1:${p[slot]}`).join(',');
  const common: Record<string, string> = {
    CHAT_HOST: '127.0.0.1',
    CHAT_LOG_LEVEL: process.env.CHAT_TEST_LOG_LEVEL ?? 'info',
    CHAT_JWT_SECRET: opts.secret,
    CHAT_DEV_MODE: 'true',
    CHAT_REDIS_URL: requireEngineEnv('CHAT_REDIS_URL'),
    CHAT_KAFKA_BROKERS: requireEngineEnv('CHAT_KAFKA_BROKERS'),
    CHAT_CASSANDRA_CONTACT_POINTS: requireEngineEnv('CHAT_CASSANDRA_CONTACT_POINTS'),
    CHAT_CASSANDRA_LOCAL_DC: process.env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1',
    CHAT_CASSANDRA_KEYSPACE: prefix,
    CHAT_REDIS_KEY_PREFIX: `${prefix}:`,
    CHAT_KAFKA_TOPIC_PREFIX: `${prefix}.`,
    CHAT_KAFKA_PARTITIONS: '3',
    CHAT_SESSION_SERVICE_ADDR: addresses(0),
    CHAT_GROUP_SERVICE_ADDR: addresses(1),
    CHAT_HISTORY_SERVICE_ADDR: addresses(2),
    CHAT_SHUTDOWN_GRACE_MS: '1000',
    CHAT_SEND_RATE_PER_SEC: '1000',
    CHAT_SEND_BURST: '1000',
    // Replicated engines (deploy/local/with-test-engines --ha exports these): topics and keyspace replicated to match.
    ...engineReplication(),
    ...(opts.traces ? { CHAT_TRACE_FILE: join(dir, 'traces.jsonl') } : {}),
    ...opts.env,
  };
  const url = (port: number) => `http://127.0.0.1:${port}`;
  /** Process `name` number `n` (1-based: `name`, `name-2`, ...). */
  const meshProcess = (n: number, name: string, httpPort: number, env: Record<string, string> = {}) => {
    const id = n === 1 ? name : `${name}-${n}`;
    return { process: new MeshProcess(id, name, { ...common, CHAT_HTTP_PORT: String(httpPort), ...env }, { distDir, logDir: dir, httpPort }), http: url(httpPort) };
  };
  const replica = (r: number): MeshLayout['services'] => {
    const [sessionGrpc, groupGrpc, historyGrpc, sessionHttp, groupHttp, historyHttp, syncHttp, apiHttp] = replicaPorts[r];
    const proc = (name: string, httpPort: number, env: Record<string, string> = {}) => meshProcess(r + 1, name, httpPort, env);
    return {
      session: proc('session-service', sessionHttp, { CHAT_GRPC_PORT: String(sessionGrpc) }),
      group: proc('group-service', groupHttp, { CHAT_GRPC_PORT: String(groupGrpc) }),
      history: proc('history-service', historyHttp, { CHAT_GRPC_PORT: String(historyGrpc) }),
      sync: proc('sync-worker', syncHttp),
      api: proc('api-server', apiHttp),
    };
  };
  const all = Array.from({ length: replicas }, (_, r) => replica(r));
  const names: ServiceName[] = ['session', 'group', 'history', 'sync', 'api'];
  return {
    dir,
    distDir,
    common,
    services: all[0],
    standby: {
      ...(Object.fromEntries(names.map((n) => [n, all.slice(1).map((a) => a[n])])) as MeshLayout['standby']),
      // Sync workers share one consumer group: every one past the first is a standby of the same kind.
      sync: [...all.slice(1).map((a) => a.sync), ...extraSyncPorts.map((port, k) => meshProcess(replicas + k + 1, 'sync-worker', port))].slice(0, syncWorkers - 1),
    },
    chatPorts: Array.from({ length: opts.chatServers }, (_, i) => ({ http: rest[2 * i], grpc: rest[2 * i + 1] })),
  };
}

/** The replication settings of the engines the suite runs on, passed through when set. */
function engineReplication(): Record<string, string> {
  const keys = ['CHAT_KAFKA_REPLICATION_FACTOR', 'CHAT_KAFKA_MIN_INSYNC_REPLICAS', 'CHAT_CASSANDRA_REPLICATION_FACTOR', 'CHAT_REDIS_SENTINELS', 'CHAT_REDIS_SENTINEL_NAME'];
  return Object.fromEntries(keys.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
}

/** Starts the back-end services in dependency order (the group service creates the keyspace first). */
export async function startServices(services: MeshLayout['services'], standby?: MeshLayout['standby']): Promise<void> {
  await services.group.process.start();
  const more = (n: ServiceName) => (standby?.[n] ?? []).map((s) => s.process.start());
  await Promise.all([services.session.process.start(), services.history.process.start(), services.sync.process.start(), ...more('group'), ...more('session'), ...more('history'), ...more('sync')]);
}

/** The api-server again, told where the chat servers' WebSockets are (its web client connects there). */
export function apiServerFor(layout: MeshLayout, wsUrls: readonly string[]): MeshProcess {
  const port = Number(new URL(layout.services.api.http).port);
  return new MeshProcess('api-server', 'api-server', { ...layout.common, CHAT_HTTP_PORT: String(port), CHAT_WEB_WS_URLS: wsUrls.join(',') }, { distDir: layout.distDir, logDir: layout.dir, httpPort: port });
}
