import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TokenIssuer } from '../../internal/auth/token-issuer';
import { ChatApi } from '../../internal/client/chat-api';
import { ChatClient, type ChatClientOptions } from '../../internal/client/chat-client';
import { ChatHttpClient } from '../../internal/client/http-client';
import { requireEngineEnv, uniquePrefix } from '../../internal/testing/engines';
import { freePorts } from '../../internal/testing/free-port';
import { TcpProxy } from '../../internal/testing/tcp-proxy';
import { parseMetrics } from '../../internal/telemetry/metrics-parse';
import { MeshProcess } from './mesh-process';

const SECRET = 'mesh-e2e-secret-0123456789abcdefghijkl';

export interface ChatServerHandle {
  id: string;
  process: MeshProcess;
  http: string;
  wsUrl: string;
  grpcPort: number;
  /** Peers reach this server's RelayService through it; cut it to partition the relay. */
  relayProxy: TcpProxy;
}

/**
 * The whole mesh as real processes on the real engines of `deploy/local/with-test-engines`:
 * session, group and history services, the sync worker, N chat servers (each behind a TCP proxy
 * for its relay address) and the api-server. Its own keyspace, Redis prefix and topic prefix.
 * Runs the built tree (`make build`; CHAT_TEST_DIST overrides it).
 */
export class TestMesh {
  private constructor(
    readonly dir: string,
    readonly services: Record<'session' | 'group' | 'history' | 'sync' | 'api', { process: MeshProcess; http: string }>,
    readonly chatServers: ChatServerHandle[],
    readonly traceFile: string,
  ) {}

  static async start(opts: { chatServers?: number; env?: Record<string, string> } = {}): Promise<TestMesh> {
    const n = opts.chatServers ?? 3;
    const dir = mkdtempSync(join(tmpdir(), 'mesh-e2e-'));
    const distDir = resolve(process.env.CHAT_TEST_DIST ?? join(__dirname, '..', '..', 'dist'));
    const prefix = uniquePrefix('mesh');
    const traceFile = join(dir, 'traces.jsonl');
    const [sessionGrpc, groupGrpc, historyGrpc, sessionHttp, groupHttp, historyHttp, syncHttp, apiHttp, ...rest] = await freePorts(8 + 2 * n);
    const common: Record<string, string> = {
      CHAT_HOST: '127.0.0.1',
      CHAT_LOG_LEVEL: process.env.CHAT_TEST_LOG_LEVEL ?? 'info',
      CHAT_JWT_SECRET: SECRET,
      CHAT_DEV_MODE: 'true',
      CHAT_TRACE_FILE: traceFile,
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
      CHAT_HEARTBEAT_INTERVAL_MS: '2000',
      CHAT_PRESENCE_TTL_MS: '6000',
      CHAT_SHUTDOWN_GRACE_MS: '1000',
      CHAT_SEND_RATE_PER_SEC: '1000',
      CHAT_SEND_BURST: '1000',
      ...opts.env,
    };
    const proc = (name: string, cmd: string, httpPort: number, env: Record<string, string> = {}) =>
      new MeshProcess(name, cmd, { ...common, CHAT_HTTP_PORT: String(httpPort), ...env }, { distDir, logDir: dir, httpPort });

    const services = {
      session: { process: proc('session-service', 'session-service', sessionHttp, { CHAT_GRPC_PORT: String(sessionGrpc) }), http: `http://127.0.0.1:${sessionHttp}` },
      group: { process: proc('group-service', 'group-service', groupHttp, { CHAT_GRPC_PORT: String(groupGrpc) }), http: `http://127.0.0.1:${groupHttp}` },
      history: { process: proc('history-service', 'history-service', historyHttp, { CHAT_GRPC_PORT: String(historyGrpc) }), http: `http://127.0.0.1:${historyHttp}` },
      sync: { process: proc('sync-worker', 'sync-worker', syncHttp), http: `http://127.0.0.1:${syncHttp}` },
      api: { process: proc('api-server', 'api-server', apiHttp), http: `http://127.0.0.1:${apiHttp}` },
    };
    // The group service creates the keyspace; the others wait for it rather than race it.
    await services.group.process.start();
    await Promise.all([services.session.process.start(), services.history.process.start(), services.sync.process.start()]);
    const chatServers: ChatServerHandle[] = [];
    for (let i = 0; i < n; i++) {
      const [http, grpc] = [rest[2 * i], rest[2 * i + 1]];
      const relayProxy = await TcpProxy.start({ host: '127.0.0.1', port: grpc });
      const id = `chat-${i + 1}`;
      const process = proc(id, 'chat-server', http, { CHAT_SERVER_ID: id, CHAT_GRPC_PORT: String(grpc), CHAT_ADVERTISE_ADDR: relayProxy.address });
      chatServers.push({ id, process, http: `http://127.0.0.1:${http}`, wsUrl: `ws://127.0.0.1:${http}/ws`, grpcPort: grpc, relayProxy });
    }
    services.api.process = proc('api-server', 'api-server', apiHttp, { CHAT_WEB_WS_URLS: chatServers.map((c) => c.wsUrl).join(',') });
    await Promise.all([...chatServers.map((c) => c.process.start()), services.api.process.start()]);
    return new TestMesh(dir, services, chatServers, traceFile);
  }

  token(userId: string): Promise<string> {
    return new TokenIssuer(SECRET, { ttlSec: 3600 }).userToken(userId);
  }

  /** A WebSocket client of `userId` on chat server `index`. */
  async connect(userId: string, index: number, opts: Partial<ChatClientOptions> = {}): Promise<ChatClient> {
    return ChatClient.connect({ url: this.chatServers[index].wsUrl, token: await this.token(userId), deviceId: `${userId}-dev`, requestTimeoutMs: 10_000, ...opts });
  }

  /** The HTTP API (api-server) as `userId`. */
  async api(userId: string): Promise<ChatApi> {
    return new ChatApi(new ChatHttpClient({ baseUrl: this.services.api.http, token: await this.token(userId) }));
  }

  /** One process's /metrics, parsed (labels service and instance dropped). */
  async metrics(http: string): Promise<Map<string, number>> {
    const res = await fetch(`${http}/metrics`);
    return parseMetrics(await res.text());
  }

  async stop(): Promise<void> {
    const all = [...this.chatServers.map((c) => c.process), this.services.api.process, this.services.sync.process, this.services.session.process, this.services.history.process, this.services.group.process];
    await Promise.all(all.map((p) => p.stop('SIGTERM', 10_000)));
    await Promise.all(this.chatServers.map((c) => c.relayProxy.close()));
  }
}
