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
  /** Two free ports (http, grpc) per chat server. */
  chatPorts: Array<{ http: number; grpc: number }>;
}

/**
 * Lays out a mesh on the engines of `deploy/local/with-test-engines`: its own keyspace, Redis
 * prefix and topic prefix, free ports, one log dir, the built tree (`make build`; CHAT_TEST_DIST
 * overrides it). Shared by the end-to-end tests and the fault suite.
 */
export async function layoutMesh(opts: { tag: string; secret: string; chatServers: number; traces?: boolean; env?: Record<string, string> }): Promise<MeshLayout> {
  const dir = mkdtempSync(join(tmpdir(), `${opts.tag}-`));
  const distDir = resolve(process.env.CHAT_TEST_DIST ?? join(__dirname, '..', '..', 'dist'));
  const prefix = uniquePrefix(opts.tag);
  const [sessionGrpc, groupGrpc, historyGrpc, sessionHttp, groupHttp, historyHttp, syncHttp, apiHttp, ...rest] = await freePorts(8 + 2 * opts.chatServers);
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
    CHAT_SESSION_SERVICE_ADDR: `127.0.0.1:${sessionGrpc}`,
    CHAT_GROUP_SERVICE_ADDR: `127.0.0.1:${groupGrpc}`,
    CHAT_HISTORY_SERVICE_ADDR: `127.0.0.1:${historyGrpc}`,
    CHAT_SHUTDOWN_GRACE_MS: '1000',
    CHAT_SEND_RATE_PER_SEC: '1000',
    CHAT_SEND_BURST: '1000',
    ...(opts.traces ? { CHAT_TRACE_FILE: join(dir, 'traces.jsonl') } : {}),
    ...opts.env,
  };
  const proc = (name: string, httpPort: number, env: Record<string, string> = {}) =>
    new MeshProcess(name, name, { ...common, CHAT_HTTP_PORT: String(httpPort), ...env }, { distDir, logDir: dir, httpPort });
  const url = (port: number) => `http://127.0.0.1:${port}`;
  return {
    dir,
    distDir,
    common,
    services: {
      session: { process: proc('session-service', sessionHttp, { CHAT_GRPC_PORT: String(sessionGrpc) }), http: url(sessionHttp) },
      group: { process: proc('group-service', groupHttp, { CHAT_GRPC_PORT: String(groupGrpc) }), http: url(groupHttp) },
      history: { process: proc('history-service', historyHttp, { CHAT_GRPC_PORT: String(historyGrpc) }), http: url(historyHttp) },
      sync: { process: proc('sync-worker', syncHttp), http: url(syncHttp) },
      api: { process: proc('api-server', apiHttp), http: url(apiHttp) },
    },
    chatPorts: Array.from({ length: opts.chatServers }, (_, i) => ({ http: rest[2 * i], grpc: rest[2 * i + 1] })),
  };
}

/** Starts the back-end services in dependency order (the group service creates the keyspace first). */
export async function startServices(services: MeshLayout['services']): Promise<void> {
  await services.group.process.start();
  await Promise.all([services.session.process.start(), services.history.process.start(), services.sync.process.start()]);
}

/** The api-server again, told where the chat servers' WebSockets are (its web client connects there). */
export function apiServerFor(layout: MeshLayout, wsUrls: readonly string[]): MeshProcess {
  const port = Number(new URL(layout.services.api.http).port);
  return new MeshProcess('api-server', 'api-server', { ...layout.common, CHAT_HTTP_PORT: String(port), CHAT_WEB_WS_URLS: wsUrls.join(',') }, { distDir: layout.distDir, logDir: layout.dir, httpPort: port });
}
