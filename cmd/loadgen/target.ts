import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { RestResult } from './mesh-at-rest';

/** What the loadgen drives: chatd (the product) or one of the two bare `ws` relays in bench/baselines. */
export type TargetKind = 'chatd' | 'naive' | 'coalesced';

export interface TargetOptions {
  kind: TargetKind;
  /** Repository root (where dist/, cmd/ and bench/ are). */
  root: string;
  /** HS256 secret the server verifies tokens with and the loadgen signs them with. */
  secret: string;
  /** Run the server (chatd or a baseline) from dist/ (built by `make build`) or from source through tsx. */
  from: 'dist' | 'tsx';
  /** CHAT_SQLITE_SYNCHRONOUS for chatd. */
  sqliteSynchronous: 'full' | 'normal';
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  nodeFlags?: string[];
  extraEnv?: Record<string, string>;
  /** The built tree for from='dist' (default <root>/dist). */
  distDir?: string;
}

/**
 * What a run reads from the server side: a started target's process, or the mesh's processes
 * (by their pid files). CPU and RSS come from /proc; the rest only where the server offers it.
 */
export interface Measured {
  /** The row label in the report (chatd, naive, mesh-relay, …). */
  kind: string;
  /** utime + stime, seconds: the process, or the sum of the processes counted as "the server". */
  cpuSeconds(): number;
  /** VmRSS, bytes (summed like cpuSeconds). */
  rssBytes(): number;
  /** Heap in use, bytes; after a forced GC when heapAfterGc. */
  heapUsed?(): Promise<number>;
  heapAfterGc: boolean;
  /** CPU-seconds of each group of processes (mesh: chat servers, services, each engine). */
  cpuParts?(): Record<string, number>;
  /** Deliveries by path so far (mesh: chat_deliveries_total{path} summed over chat servers). */
  counters?(): Promise<Record<string, number>>;
  /** Work done so far (mesh: RPCs, Kafka requests, Cassandra statements, Redis commands; see EngineCounters). */
  engineCounts?(): Promise<Record<string, number>>;
  /** Waits until what came before is done, connected users staying (mesh: waitAtRest with usersStay). */
  settled?(): Promise<RestResult>;
}

/** A server process the loadgen started: its URLs, and its CPU and memory as the kernel and V8 see them. */
export interface Target extends Measured {
  kind: TargetKind;
  pid: number;
  http: string;
  ws: string;
  /** utime + stime of the whole process (every thread), seconds, from /proc/<pid>/stat. */
  cpuSeconds(): number;
  /** VmRSS from /proc/<pid>/status, bytes. */
  rssBytes(): number;
  /** process.memoryUsage() inside the server after a full GC (through server-probe.ts). */
  memory(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

const CLOCK_TICKS = 100; // _SC_CLK_TCK on Linux

/**
 * Starts the server as a child process on free ports with its own data dir. chatd gets a real
 * JWT secret (dev mode off), and a send rate limit high enough not to cap the benchmark.
 */
export async function startTarget(opts: TargetOptions): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), `loadgen-${opts.kind}-`));
  const useDist = opts.from === 'dist';
  const ext = useDist ? 'js' : 'ts';
  const base = useDist ? (opts.distDir ?? join(opts.root, 'dist')) : opts.root;
  const probe = join(base, 'cmd', 'loadgen', `server-probe.${ext}`);
  // chatd and the baselines run the same way: tsx's transform is not free (it names every
  // function, which put 0.3 KB on each idle chatd connection's heap), so the figures come from dist/.
  const entry = opts.kind === 'chatd' ? join(base, 'cmd', 'chatd', `main.${ext}`) : join(base, 'bench', 'baselines', `ws-relay.${ext}`);
  if (useDist && !existsSync(entry)) throw new Error(`${entry} is missing: run 'make build' first`);
  const args = [...(useDist ? [] : ['--import', 'tsx']), '--expose-gc', ...(opts.nodeFlags ?? []), probe, entry, ...(opts.kind === 'coalesced' ? ['--coalesce'] : [])];
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    CHAT_HTTP_PORT: '0',
    CHAT_GRPC_PORT: '0',
    CHAT_DATA_DIR: dataDir,
    CHAT_DEV_MODE: 'false',
    CHAT_JWT_SECRET: opts.secret,
    CHAT_LOG_LEVEL: 'info',
    CHAT_SQLITE_SYNCHRONOUS: opts.sqliteSynchronous,
    CHAT_SEND_RATE_PER_SEC: '1000000',
    CHAT_SEND_BURST: '1000000',
    ...opts.extraEnv,
  };
  const proc = spawn(process.execPath, args, { cwd: opts.root, env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const http = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${opts.kind} did not report ready within 30 s`)), 30_000);
    void exited.then(() => reject(new Error(`${opts.kind} exited before it was ready`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let entry: { msg?: string; http?: string; level?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.http && /ready/.test(entry.msg ?? '')) {
        clearTimeout(timer);
        resolve(entry.http);
      } else if ((entry.level ?? 0) >= 50) process.stderr.write(`${opts.kind}: ${line}\n`);
    });
  });
  const pid = proc.pid!;
  return {
    kind: opts.kind,
    pid,
    http,
    ws: `${http.replace(/^http/, 'ws')}/ws`,
    cpuSeconds: () => readCpuSeconds(pid),
    rssBytes: () => readRssBytes(pid),
    memory: () => askMemory(proc),
    heapUsed: async () => (await askMemory(proc)).heapUsed,
    heapAfterGc: true,
    stop: async () => {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export function readRssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function askMemory(proc: ChildProcess): Promise<NodeJS.MemoryUsage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not answer the memory probe')), 10_000);
    const onMessage = (msg: { op?: string; usage?: NodeJS.MemoryUsage }) => {
      if (msg.op !== 'memory' || !msg.usage) return;
      clearTimeout(timer);
      proc.off('message', onMessage);
      resolve(msg.usage);
    };
    proc.on('message', onMessage);
    proc.send({ op: 'memory' });
  });
}
