import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { TokenIssuer } from '../../internal/auth/token-issuer';
import { ChatApi } from '../../internal/client/chat-api';
import { ChatHttpClient } from '../../internal/client/http-client';
import { TcpProxy } from '../../internal/testing/tcp-proxy';
import { parseMetrics } from '../../internal/telemetry/metrics-parse';
import { layoutMesh, startServices, type MeshLayout } from '../mesh/mesh-layout';
import { MeshProcess } from '../mesh/mesh-process';

const SECRET = 'mesh-faults-secret-0123456789abcdefghij';
const REPO = resolve(__dirname, '..', '..');

/** One chat server of the fault mesh; `process` is replaced when it is restarted with other env. */
export interface FaultChatServer {
  id: string;
  index: number;
  process: MeshProcess;
  httpPort: number;
  grpcPort: number;
  http: string;
  wsUrl: string;
  /** Peers reach this server's relay through it: cut it to partition the server from its peers. */
  relayProxy: TcpProxy;
  /** False between a kill and the next start, and while SIGSTOPped: clients do not pick it. */
  up: boolean;
}

export type EngineName = 'redis' | 'kafka' | 'cassandra';

/**
 * The mesh for the fault suite: like e2e/mesh's TestMesh (every process from the built tree on the
 * engines of `deploy/local/with-test-engines`, each relay behind a cuttable TCP proxy), plus what
 * faults need: restarting a chat server with extra environment (libfaketime), stopping and
 * continuing a process, and restarting an engine in place (`deploy/local/restart`).
 */
export class FaultMesh {
  private constructor(
    readonly dir: string,
    /** The environment every process of the mesh shares (topic prefix, engines...). */
    readonly common: Record<string, string>,
    private readonly distDir: string,
    readonly services: MeshLayout['services'],
    /** The other replicas of each service (`replicas` > 1). */
    readonly standby: MeshLayout['standby'],
    readonly chatServers: FaultChatServer[],
  ) {}

  static async start(opts: { chatServers: number; replicas?: number; syncWorkers?: number; env?: Record<string, string> }): Promise<FaultMesh> {
    const layout = await layoutMesh({ tag: 'faults', secret: SECRET, chatServers: opts.chatServers, replicas: opts.replicas, syncWorkers: opts.syncWorkers, env: { CHAT_HEARTBEAT_INTERVAL_MS: '1000', CHAT_PRESENCE_TTL_MS: '3000', ...opts.env } });
    await startServices(layout.services, layout.standby);
    const mesh = new FaultMesh(layout.dir, layout.common, layout.distDir, layout.services, layout.standby, []);
    for (const [i, { http: httpPort, grpc: grpcPort }] of layout.chatPorts.entries()) {
      const relayProxy = await TcpProxy.start({ host: '127.0.0.1', port: grpcPort });
      const id = `chat-${i + 1}`;
      const server: FaultChatServer = { id, index: i, httpPort, grpcPort, relayProxy, up: false, http: `http://127.0.0.1:${httpPort}`, wsUrl: `ws://127.0.0.1:${httpPort}/ws`, process: undefined as unknown as MeshProcess };
      server.process = mesh.chatServerProcess(server);
      mesh.chatServers.push(server);
    }
    await Promise.all([...mesh.chatServers.map((c) => mesh.startChatServer(c.index)), layout.services.api.process.start(), ...layout.standby.api.map((a) => a.process.start())]);
    return mesh;
  }

  private chatServerProcess(c: FaultChatServer, extraEnv: Record<string, string> = {}): MeshProcess {
    const env = { ...this.common, CHAT_HTTP_PORT: String(c.httpPort), CHAT_SERVER_ID: c.id, CHAT_GRPC_PORT: String(c.grpcPort), CHAT_ADVERTISE_ADDR: c.relayProxy.address, ...extraEnv };
    return new MeshProcess(c.id, 'chat-server', env, { distDir: this.distDir, logDir: this.dir, httpPort: c.httpPort });
  }

  /** Starts chat server `index` (after a kill), optionally with extra environment from now on. */
  async startChatServer(index: number, extraEnv?: Record<string, string>): Promise<void> {
    const c = this.chatServers[index];
    if (extraEnv) c.process = this.chatServerProcess(c, extraEnv);
    await c.process.start();
    c.up = true;
  }

  async killChatServer(index: number): Promise<void> {
    const c = this.chatServers[index];
    c.up = false;
    await c.process.kill();
  }

  /** SIGSTOP / SIGCONT: the process keeps its sockets but answers nothing while stopped. */
  signal(index: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const c = this.chatServers[index];
    if (c.process.pid === undefined) throw new Error(`${c.id} is not running`);
    process.kill(c.process.pid, signal);
    c.up = signal === 'SIGCONT';
  }

  /**
   * Plays the orchestrator (what Kubernetes does for the StatefulSet): every process of the mesh
   * that exits is started again, until `stop()`; `restarted` names each restart.
   */
  supervise(): { restarted: string[]; stop: () => void } {
    const restarted: string[] = [];
    const busy = new Set<MeshProcess>();
    const alive = (pid: number | undefined) => {
      if (pid === undefined) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const revive = (p: MeshProcess, after?: () => void) => {
      if (busy.has(p) || alive(p.pid)) return;
      busy.add(p);
      restarted.push(p.name);
      void p.start().then(after, () => undefined).finally(() => busy.delete(p));
    };
    const timer = setInterval(() => {
      for (const c of this.chatServers) if (c.up) revive(c.process);
      for (const s of this.serviceProcesses()) revive(s);
    }, 250);
    return { restarted, stop: () => clearInterval(timer) };
  }

  /** Every sync worker (the first, then `standby.sync`): one consumer group on the message log. */
  syncWorkers(): Array<{ process: MeshProcess; http: string }> {
    return [this.services.sync, ...this.standby.sync];
  }

  liveServers(): number[] {
    return this.chatServers.filter((c) => c.up).map((c) => c.index);
  }

  /**
   * Restarts one engine in place (same data dir and port) with deploy/local/restart, which needs
   * the CHAT_LOCAL_* variables that deploy/local/with-test-engines exports. Resolves once it is
   * ready again; returns how long that took, with the script's own timings.
   */
  async restartEngine(engine: EngineName): Promise<string> {
    const t0 = Date.now();
    const { stderr } = await promisify(execFile)(join(REPO, 'deploy', 'local', 'restart'), [engine], { env: process.env, timeout: 180_000 });
    const steps = stderr.split('\n').filter((l) => / stopped | ready /.test(l)).map((l) => l.replace(/^\[deploy\/local\] /, '').replace(/ \(.*?\)/g, ''));
    return `${Date.now() - t0} ms (${steps.join('; ')})`;
  }

  /**
   * Kills (SIGKILL) or starts again one node of the replicated engines of
   * `deploy/local/with-test-engines --ha` (deploy/local/node: kafka-1..3, cassandra-1..3,
   * redis-1, redis-2, redis-primary). Resolves once done (`start`: the node is ready and has
   * rejoined); returns how long that took.
   */
  async engineNode(action: 'kill' | 'start', node: string): Promise<string> {
    const t0 = Date.now();
    await promisify(execFile)(join(REPO, 'deploy', 'local', 'node'), [action, node], { env: process.env, timeout: 240_000 });
    return `${Date.now() - t0} ms`;
  }

  /** Which Redis data node is the primary now (redis-1 or redis-2), as the Sentinels say. */
  async redisPrimary(): Promise<string> {
    const { stdout } = await promisify(execFile)(join(REPO, 'deploy', 'local', 'node'), ['primary'], { env: process.env, timeout: 30_000 });
    return stdout.trim();
  }

  token(userId: string): Promise<string> {
    return new TokenIssuer(SECRET, { ttlSec: 3600 }).userToken(userId);
  }

  async api(userId: string): Promise<ChatApi> {
    return new ChatApi(new ChatHttpClient({ baseUrl: this.services.api.http, token: await this.token(userId) }));
  }

  async metrics(http: string): Promise<Map<string, number>> {
    const res = await fetch(`${http}/metrics`);
    return parseMetrics(await res.text());
  }

  async stop(): Promise<void> {
    for (const c of this.chatServers) if (!c.up && c.process.pid !== undefined) this.signalQuietly(c.process.pid, 'SIGCONT');
    const all = [...this.chatServers.map((c) => c.process), ...this.serviceProcesses()];
    await Promise.all(all.map((p) => p.stop('SIGTERM', 10_000)));
    await Promise.all(this.chatServers.map((c) => c.relayProxy.close()));
  }

  /** Every replica of every service, api-server first and group service last (the order they stop in). */
  serviceProcesses(): MeshProcess[] {
    const order = ['api', 'sync', 'session', 'history', 'group'] as const;
    return order.flatMap((n) => [this.services[n].process, ...this.standby[n].map((s) => s.process)]);
  }

  private signalQuietly(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
