import { join } from 'node:path';
import { TokenIssuer } from '../../internal/auth/token-issuer';
import { ChatApi } from '../../internal/client/chat-api';
import { ChatClient, type ChatClientOptions } from '../../internal/client/chat-client';
import { ChatHttpClient } from '../../internal/client/http-client';
import { TcpProxy } from '../../internal/testing/tcp-proxy';
import { parseMetrics } from '../../internal/telemetry/metrics-parse';
import { apiServerFor, layoutMesh, startServices } from './mesh-layout';
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
    const layout = await layoutMesh({ tag: 'mesh', secret: SECRET, chatServers: opts.chatServers ?? 3, traces: true, env: { CHAT_HEARTBEAT_INTERVAL_MS: '2000', CHAT_PRESENCE_TTL_MS: '6000', ...opts.env } });
    const traceFile = join(layout.dir, 'traces.jsonl');
    await startServices(layout.services);
    const chatServers: ChatServerHandle[] = [];
    for (const [i, ports] of layout.chatPorts.entries()) {
      const relayProxy = await TcpProxy.start({ host: '127.0.0.1', port: ports.grpc });
      const id = `chat-${i + 1}`;
      const env = { ...layout.common, CHAT_HTTP_PORT: String(ports.http), CHAT_SERVER_ID: id, CHAT_GRPC_PORT: String(ports.grpc), CHAT_ADVERTISE_ADDR: relayProxy.address };
      const process = new MeshProcess(id, 'chat-server', env, { distDir: layout.distDir, logDir: layout.dir, httpPort: ports.http });
      chatServers.push({ id, process, http: `http://127.0.0.1:${ports.http}`, wsUrl: `ws://127.0.0.1:${ports.http}/ws`, grpcPort: ports.grpc, relayProxy });
    }
    layout.services.api.process = apiServerFor(layout, chatServers.map((c) => c.wsUrl));
    await Promise.all([...chatServers.map((c) => c.process.start()), layout.services.api.process.start()]);
    return new TestMesh(layout.dir, layout.services, chatServers, traceFile);
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
