import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { alive, ClusterProbe } from './cluster-probe';
import type { Measured } from './target';

/**
 * The distributed mesh for the benchmark: its own engines (deploy/local/up, free ports) and one
 * `deploy/local/cluster` (port offset, own run dir), all under `runDir`, started and stopped by the
 * suite. Server CPU and memory are read from the pid files the scripts write, never from anything
 * the mesh reports about itself.
 */
export interface MeshOptions {
  root: string;
  /** The built tree the cluster runs (CHAT_CLUSTER_DIST). */
  distDir: string;
  /** Run dir (CHAT_LOCAL_DIR): engine data and logs, cluster pids and logs. Deleted by stop() unless kept. */
  runDir: string;
  secret: string;
  /** Chat servers the cluster runs unless a step asks for another number ({@link Mesh.ensure}). */
  chatServers: number;
  /** The most chat servers any step asks for: their ports are checked free too (default chatServers). */
  maxChatServers?: number;
}


export type DeliveryPaths = Record<string, number>;

export class Mesh {
  /** Endpoints printed by `deploy/local/up all` (CHAT_REDIS_URL, CHAT_KAFKA_BROKERS, CHAT_CASSANDRA_*). */
  engineEnv: Record<string, string> = {};
  private env: Record<string, string> = {};
  private relay: boolean | undefined;
  /** Chat servers running (0: none started yet, or stopped). */
  private running = 0;
  private chatHttp: string[] = [];
  private probe?: ClusterProbe;
  private enginesUp = false;

  private constructor(readonly o: MeshOptions) {}

  /** Lays out the run dir and picks free engine ports and a cluster port offset; starts nothing. */
  static async prepare(o: MeshOptions): Promise<Mesh> {
    const m = new Mesh(o);
    const main = join(o.distDir, 'cmd', 'chat-server', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: build first (make build, or CHAT_CLUSTER_DIST=<built tree>)`);
    mkdirSync(o.runDir, { recursive: true });
    const [redis, kafka, kafkaController, cql, storage, jmx] = await freePorts(6);
    const offset = await freeOffset(Math.max(o.chatServers, o.maxChatServers ?? 0));
    const inherited = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
    m.env = {
      ...inherited,
      CHAT_LOCAL_DIR: o.runDir,
      CHAT_LOCAL_REDIS_PORT: String(redis),
      CHAT_LOCAL_KAFKA_PORT: String(kafka),
      CHAT_LOCAL_KAFKA_CONTROLLER_PORT: String(kafkaController),
      CHAT_LOCAL_CASSANDRA_PORT: String(cql),
      CHAT_LOCAL_CASSANDRA_STORAGE_PORT: String(storage),
      CHAT_LOCAL_CASSANDRA_JMX_PORT: String(jmx),
      CHAT_CLUSTER_PORT_OFFSET: String(offset),
      CHAT_CLUSTER_DIST: o.distDir,
      // Tracing writes a JSON line per span: off, as it is for embedded chatd.
      CHAT_CLUSTER_TRACES: '0',
      CHAT_JWT_SECRET: o.secret,
      CHAT_LOG_LEVEL: 'info',
      // The same as embedded chatd gets: the per-connection send limit must not cap the benchmark.
      CHAT_SEND_RATE_PER_SEC: '1000000',
      CHAT_SEND_BURST: '1000000',
      // Chat servers are restarted between the relay and fallback runs: do not wait 2 s for clients that are gone.
      CHAT_SHUTDOWN_GRACE_MS: '300',
    };
    return m;
  }

  get portOffset(): number {
    return Number(this.env.CHAT_CLUSTER_PORT_OFFSET);
  }

  /** Starts Redis, Kafka and Cassandra (deploy/local/up all) in the run dir, on the free ports. */
  async startEngines(): Promise<void> {
    this.enginesUp = true; // from here on, stop() must run `down`
    const out = await this.script(['up', 'all'], this.env);
    for (const m of out.matchAll(/^export (CHAT_[A-Z_]+)=(.*)$/gm)) this.engineEnv[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
    if (!this.engineEnv.CHAT_CASSANDRA_CONTACT_POINTS || !this.engineEnv.CHAT_REDIS_URL) throw new Error(`deploy/local/up all printed no endpoints:\n${out}`);
  }

  /** Settings for an embedded chatd that stores history and groups in this mesh's Cassandra. */
  cassandraEnv(keyspace: string): Record<string, string> {
    return { CHAT_STORE: 'cassandra', CHAT_CASSANDRA_CONTACT_POINTS: this.engineEnv.CHAT_CASSANDRA_CONTACT_POINTS, CHAT_CASSANDRA_LOCAL_DC: this.engineEnv.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1', CHAT_CASSANDRA_KEYSPACE: keyspace };
  }

  /**
   * The cluster with `chatServers` chat servers (default: the mesh's number) relaying (relay=true)
   * or with CHAT_RELAY_ENABLED=false (every remote delivery through Kafka). A change of either
   * stops every chat server and starts the asked number afresh; the services and engines stay.
   */
  async ensure(relay: boolean, chatServers = this.o.chatServers): Promise<void> {
    if (this.relay === relay && this.running === chatServers) return;
    if (chatServers > Math.max(this.o.chatServers, this.o.maxChatServers ?? 0)) throw new Error(`${chatServers} chat servers: the mesh reserved ports for at most ${Math.max(this.o.chatServers, this.o.maxChatServers ?? 0)} (maxChatServers)`);
    if (this.running > 0) await this.stopChatServers();
    this.relay = undefined;
    this.running = 0;
    // Many chat servers starting at once on a small box take longer than the default 60 s to be ready.
    const ready = process.env.CHAT_CLUSTER_READY_TIMEOUT ?? String(Math.max(60, 15 * chatServers));
    await this.script(['cluster', 'up', '--chat-servers', String(chatServers)], { ...this.env, CHAT_RELAY_ENABLED: String(relay), CHAT_CLUSTER_READY_TIMEOUT: ready });
    const cluster = JSON.parse(readFileSync(join(this.o.runDir, 'cluster.json'), 'utf8')) as { chatServers: { http: string }[] };
    this.chatHttp = cluster.chatServers.map((c) => c.http);
    this.relay = relay;
    this.running = chatServers;
  }

  /** WebSocket URLs of the chat servers, in cluster order (the loadgen puts user i on server i mod n). */
  get wsUrls(): string[] {
    return this.chatHttp.map((h) => `${h.replace(/^http/, 'ws')}/ws`);
  }

  /** What a run reads, through the run dir's {@link ClusterProbe}: per-process CPU, paths, work counters. */
  measured(kind: string): Measured {
    return this.measuredProbe().measured(kind);
  }

  private measuredProbe(): ClusterProbe {
    return (this.probe ??= new ClusterProbe(this.o.runDir, this.engineEnv));
  }

  private stopping?: Promise<void>;

  /** Stops the cluster and the engines and deletes their data; keeps the run dir (logs) when `keep`. Idempotent. */
  stop(keep: boolean): Promise<void> {
    this.stopping ??= this.teardown(keep);
    return this.stopping;
  }

  private async teardown(keep: boolean): Promise<void> {
    const problems: string[] = [];
    await this.probe?.close().catch(() => undefined);
    if (existsSync(join(this.o.runDir, 'pids'))) await this.script(['cluster', 'down'], this.env).catch((e: unknown) => problems.push(String(e)));
    if (this.enginesUp) await this.script(['down', '--purge', 'all'], this.env).catch((e: unknown) => problems.push(String(e)));
    if (!keep && problems.length === 0) rmSync(this.o.runDir, { recursive: true, force: true });
    if (problems.length) throw new Error(`tearing the mesh down: ${problems.join('; ')} (run dir ${this.o.runDir})`);
  }

  private chatNames(): string[] {
    return Array.from({ length: this.running }, (_, i) => `chat-${i + 1}`);
  }

  /** SIGTERM to the chat servers (by their pid files), SIGKILL after 20 s; waits until they are gone. */
  private async stopChatServers(): Promise<void> {
    const pids = this.chatNames().map((n) => this.measuredProbe().pidOf(n));
    for (const p of pids) process.kill(p, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (pids.some(alive)) {
      if (Date.now() > deadline) for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Writes every memtable of the mesh's Cassandra to sstables (deploy/local/nodetool flush), so
   * its data dir holds what was written as it is kept on disk (compressed sstables), not only the
   * commitlog. Rejects when nodetool fails.
   */
  async flushCassandra(): Promise<void> {
    await this.script(['nodetool', 'flush'], this.env);
  }

  /** Runs deploy/local/<args> with its stderr passed through; resolves with its stdout. */
  private script(args: string[], env: Record<string, string>): Promise<string> {
    const [name, ...rest] = args;
    return new Promise((resolve, reject) => {
      const p = spawn(join(this.o.root, 'deploy', 'local', name), rest, { cwd: this.o.root, env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`deploy/local/${args.join(' ')} exited ${code}`))));
    });
  }
}


/** n free loopback ports, asked of the kernel (as deploy/local/with-test-engines does). */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  const ports = await Promise.all(servers.map((s) => new Promise<number>((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)))));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A CHAT_CLUSTER_PORT_OFFSET under which every port of deploy/local/cluster is free (never the default ports). */
async function freeOffset(chatServers: number): Promise<number> {
  const base = [7101, 7102, 7103, 7201, 7202, 7203, 7204, 8080];
  for (let i = 1; i <= chatServers; i++) base.push(8080 + i, 7110 + i);
  for (let offset = 20_000; offset <= 24_000; offset += 500) {
    const free = await Promise.all(base.map((p) => portFree(p + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free CHAT_CLUSTER_PORT_OFFSET between 20000 and 24000');
}
