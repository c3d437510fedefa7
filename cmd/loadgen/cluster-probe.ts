import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseMetrics } from '../../internal/telemetry/metrics-parse';
import { EngineCounters } from './engine-counters';
import type { DataGrowth } from './suite-plan';
import { readCpuSeconds, readRssBytes, type Measured } from './target';
import { waitAtRest } from './mesh-at-rest';

/** How long a run waits for the mesh to finish what its setup started before the load. */
const SETTLE_TIMEOUT_MS = 60_000;

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
      settled: () => waitAtRest(this.runDir, { usersStay: true, timeoutMs: SETTLE_TIMEOUT_MS }),
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

/**
 * The engines' data files under a run dir (deploy/local/up's layout: <runDir>/kafka/data,
 * <runDir>/cassandra/data), path → bytes. Read twice around a run, {@link dataGrowth} says what the
 * run wrote; with no JMX (no `nodetool flush`) the commitlog stands for Cassandra's writes.
 */
export interface DataFiles {
  /** Kafka .log segments of every topic but KRaft's own metadata: their length (appended record batches). */
  kafkaLogs: Record<string, number>;
  /** Cassandra commitlog segments: blocks allocated on disk (st_blocks × 512), not their preallocated length. */
  commitlog: Record<string, number>;
  /** Cassandra sstable components of the non-system keyspaces: their length. */
  sstables: Record<string, number>;
}

export function readDataFiles(runDir: string): DataFiles {
  const kafkaLogs: Record<string, number> = {};
  for (const f of walk(join(runDir, 'kafka', 'data'), 3)) {
    const partition = basename(dirname(f));
    if (f.endsWith('.log') && /-\d+$/.test(partition) && !partition.startsWith('__cluster_metadata')) put(kafkaLogs, f, 'size');
  }
  const commitlog: Record<string, number> = {};
  for (const f of walk(join(runDir, 'cassandra', 'data', 'commitlog'), 1)) if (f.endsWith('.log')) put(commitlog, f, 'blocks');
  const sstables: Record<string, number> = {};
  const data = join(runDir, 'cassandra', 'data', 'data');
  const keyspaces = existsSync(data) ? readdirSync(data).filter((k) => !k.startsWith('system')) : [];
  for (const k of keyspaces) for (const f of walk(join(data, k), 2)) if (f.endsWith('.db')) put(sstables, f, 'size');
  return { kafkaLogs, commitlog, sstables };
}

/** Records a file's length or allocated bytes; a file deleted since it was listed (a rolled segment) is left out. */
function put(into: Record<string, number>, file: string, what: 'size' | 'blocks'): void {
  try {
    const st = statSync(file);
    into[file] = what === 'size' ? st.size : st.blocks * 512;
  } catch {
    // gone: nothing of it is the run's
  }
}

/**
 * What was written between two reads: per file, its growth (a file that is new counts whole; one
 * that is gone counts nothing, as its earlier bytes are not the run's). Kafka by topic (the
 * partition dir's name without its number).
 */
export function dataGrowth(before: DataFiles, after: DataFiles): Pick<DataGrowth, 'kafkaLogBytes' | 'cassandraCommitlogBytes' | 'cassandraSstableBytes'> {
  const grown = (a: Record<string, number>, b: Record<string, number>) => Object.entries(b).map(([f, n]): [string, number] => [f, Math.max(0, n - (a[f] ?? 0))]);
  const kafkaLogBytes: Record<string, number> = {};
  for (const [f, n] of grown(before.kafkaLogs, after.kafkaLogs)) {
    const topic = basename(dirname(f)).replace(/-\d+$/, '');
    kafkaLogBytes[topic] = (kafkaLogBytes[topic] ?? 0) + n;
  }
  const total = (xs: [string, number][]) => xs.reduce((s, [, n]) => s + n, 0);
  return { kafkaLogBytes, cassandraCommitlogBytes: total(grown(before.commitlog, after.commitlog)), cassandraSstableBytes: total(grown(before.sstables, after.sstables)) };
}

/** Files under `dir` at most `depth` levels down (none if it does not exist; files that vanish while listed are skipped). */
function walk(dir: string, depth: number): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return depth > 1 ? walk(p, depth - 1) : [];
    return e.isFile() ? [p] : [];
  });
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
