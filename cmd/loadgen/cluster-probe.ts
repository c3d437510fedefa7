import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMetrics } from '../../internal/telemetry/metrics-parse';
import { EngineCounters } from './engine-counters';
import { readCpuSeconds, readRssBytes, type Measured } from './target';

/** The engines whose pid files deploy/local/up writes under the run dir. */
export const ENGINE_NAMES = ['kafka', 'cassandra', 'redis'] as const;

interface ClusterJson {
  chatServers: { id: string; http: string }[];
  /** Written by newer `cluster up`s; older run dirs lack it. */
  services?: { id: string; http: string }[];
}

/**
 * Reads a running `deploy/local/cluster` from its run dir: CPU and RSS of every process and engine
 * from /proc by their pid files (never from what the mesh says about itself), delivery paths and
 * work counters from /metrics and the engines. The suite's Mesh and `loadgen run --cluster-dir`
 * measure through it.
 */
export class ClusterProbe {
  private readonly counters: EngineCounters;

  constructor(
    private readonly runDir: string,
    engineEnv: Record<string, string | undefined>,
  ) {
    this.counters = new EngineCounters({
      redisUrl: engineEnv.CHAT_REDIS_URL,
      cassandraContactPoint: engineEnv.CHAT_CASSANDRA_CONTACT_POINTS?.split(',')[0],
      cassandraLocalDc: engineEnv.CHAT_CASSANDRA_LOCAL_DC,
      metricsUrls: () => {
        const c = this.cluster();
        return [...c.chatServers.map((s) => s.http), ...(c.services ?? []).map((s) => s.http)];
      },
    });
  }

  /** WebSocket URLs of the chat servers, in cluster order (the loadgen puts user i on server i mod n). */
  wsUrls(): string[] {
    return this.cluster().chatServers.map((c) => `${c.http.replace(/^http/, 'ws')}/ws`);
  }

  /**
   * What a run reads: the chat servers' CPU (the headline "server CPU"), each process's and
   * engine's CPU (cpuParts, by process name), RSS, heap, delivery paths and work counters.
   */
  measured(kind: string): Measured {
    const chats = () => this.cluster().chatServers.map((c) => this.pidOf(c.id));
    return {
      kind,
      heapAfterGc: false,
      cpuSeconds: () => sum(chats().map(readCpuSeconds)),
      rssBytes: () => sum(chats().map(readRssBytes)),
      cpuParts: () => Object.fromEntries(this.processes().map(([name, pid]) => [name, readCpuSeconds(pid)])),
      heapUsed: async () => sum((await this.scrapeChatServers()).map((s) => s.get('nodejs_heap_size_used_bytes') ?? 0)),
      counters: async () => {
        const out: Record<string, number> = {};
        for (const s of await this.scrapeChatServers()) {
          for (const [k, v] of s) {
            const m = /^chat_deliveries_total\{path="(\w+)"\}$/.exec(k);
            if (m) out[m[1]] = (out[m[1]] ?? 0) + v;
          }
        }
        return out;
      },
      engineCounts: () => this.counters.read(),
    };
  }

  close(): Promise<void> {
    return this.counters.close();
  }

  /** [name, pid] of every cluster process (pids/*.pid) and engine, chat servers first. */
  processes(): [string, number][] {
    const pids = join(this.runDir, 'pids');
    const names = existsSync(pids) ? readdirSync(pids).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4)) : [];
    names.sort((a, b) => Number(b.startsWith('chat-')) - Number(a.startsWith('chat-')) || a.localeCompare(b, 'en', { numeric: true }));
    const engines = ENGINE_NAMES.filter((e) => existsSync(join(this.runDir, e, `${e}.pid`)));
    return [...names.map((n): [string, number] => [n, this.pidOf(n)]), ...engines.map((e): [string, number] => [e, this.enginePid(e)])];
  }

  pidOf(name: string): number {
    const pid = Number(readFileSync(join(this.runDir, 'pids', `${name}.pid`), 'utf8').trim());
    if (!alive(pid)) throw new Error(`mesh process ${name} (pid ${pid}) is not running; see ${join(this.runDir, 'logs', `${name}.log`)}`);
    return pid;
  }

  private enginePid(engine: string): number {
    const pid = Number(readFileSync(join(this.runDir, engine, `${engine}.pid`), 'utf8').trim());
    if (!alive(pid)) throw new Error(`${engine} (pid ${pid}) is not running; see ${join(this.runDir, engine, 'logs')}`);
    return pid;
  }

  private cluster(): ClusterJson {
    return JSON.parse(readFileSync(join(this.runDir, 'cluster.json'), 'utf8')) as ClusterJson;
  }

  private async scrapeChatServers(): Promise<Map<string, number>[]> {
    return Promise.all(
      this.cluster().chatServers.map(async ({ http }) => {
        const res = await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(5000) });
        if (!res.ok) throw new Error(`GET ${http}/metrics: HTTP ${res.status}`);
        return parseMetrics(await res.text());
      }),
    );
  }
}

/** A pid that runs and is not a zombie (orphans are not reaped in some sandboxes). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
