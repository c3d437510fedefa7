import type { RunOptions, RunResult, ScenarioName } from './scenarios';

/** One comparison: the same scenario and load on each target, runs alternated A/B/C, A/B/C, … */
export interface Step {
  key: string;
  title: string;
  scenario: ScenarioName;
  /** Row labels: chatd, naive, coalesced (started per run), chatd-cassandra, mesh-relay, mesh-fallback. */
  targets: string[];
  /** Only the JSON-safe part of the run options (no `measured`). */
  overrides: Partial<RunOptions>;
  results: RunResult[];
  /** Ratio rows [numerator, denominator]; default chatd / every other target. */
  ratios?: [string, string][];
  /** Which part of the suite ran it (absent in records from before the mesh was benchmarked: embedded). */
  phase?: 'embedded' | 'mesh';
  /** Said under the table (a baseline taken from another step, what a row counts). */
  note?: string;
  /** Run options of single targets on top of `overrides` (JSON-safe; e.g. mesh-empty: users 0). */
  perTarget?: Record<string, Partial<RunOptions>>;
  /** Difference rows [minuend, subtrahend] of the per-process CPU table (medians of per-run differences). */
  differences?: [string, string][];
  /** An open-loop ramp (mesh-ramp): its results are one per run and rate, not per target. */
  ramp?: RampRecord;
  /** What went differently from the plan without failing the step (a run began before the mesh was at rest). */
  warnings?: string[];
  /** Mesh load steps: what each run made Kafka and Cassandra write to disk (absent in records from before it was measured). */
  dataGrowth?: DataGrowth[];
}

/**
 * What one mesh run made the engines write to disk: the mesh's data dirs read before the run's
 * users connect and again once the mesh is at rest after it (the sync worker caught up), so the
 * run's connects and disconnects are in it too. docs/CAPACITY.md divides it by `messages`.
 */
export interface DataGrowth {
  /** Index of the run in the step's `results`. */
  result: number;
  /** Messages the run sent (warm-up, window and drain: RunResult.sent). */
  messages: number;
  /** Bytes appended to Kafka's .log segment files, by topic: the record batches as stored on one replica (exact; no compression). */
  kafkaLogBytes: Record<string, number>;
  /**
   * Bytes newly allocated to Cassandra's commitlog segments: sparse memory-mapped files whose
   * blocks are allocated as mutations are written (every table, uncompressed; 4 KiB granularity).
   */
  cassandraCommitlogBytes: number;
  /**
   * Growth of the sstable files of the non-system keyspaces: with `cassandraFlushed`, what the run
   * wrote as Cassandra keeps it on disk (compressed); without, only memtables that happened to flush.
   */
  cassandraSstableBytes: number;
  /** Whether Cassandra's memtables were flushed (nodetool flush) before both reads. Absent in older records: not flushed. */
  cassandraFlushed?: boolean;
  /** Whether the mesh was at rest when the sizes were read after the run (false: read after the wait timed out). */
  atRest: boolean;
}

/** How one target's run options are made, for run `run` (0-based) of a step: start or reconfigure what it needs first. */
export type Variant = (run: number) => Promise<Partial<RunOptions>>;

/** When a ramp run counts as sustained: all three must hold. */
export interface RampRule {
  /** delivered/s ≥ this share of the offered rate. */
  deliveredShare: number;
  /** At most this many messages sent in the window not received after the drain. */
  maxLost: number;
  maxP99Ms: number;
}

/** One repetition of a ramp: the rates in order until the first that is not sustained. */
export interface RampRepetition {
  /** The last rate sustained (absent: not even the first). */
  highestSustained?: number;
  /** The first rate not sustained (absent: every rate was). */
  stoppedAt?: number;
  /** Why `stoppedAt` was not sustained, one reason per broken condition. */
  why?: string[];
  /** The ramp stopped below `referenceIfNone`, which then ran once anyway, for the cost figures only. */
  referenceRun?: number;
}

export interface RampRecord {
  /** Offered rates, ascending. */
  rates: number[];
  rule: RampRule;
  /** The rate the cost figures are read at when no rate was sustained (a repetition that stops below it runs it once more). */
  referenceIfNone: number;
  repetitions: RampRepetition[];
}

/** The standard suite's sizes; the commands in BENCHMARKS.md are derived from them. */
export const SUITE = {
  /** Text of every message the suite sends, bytes (the loadgen's --text-bytes). */
  textBytes: 64,
  dm: { users: 1000, window: 2, durationS: 4, warmupS: 1 },
  group: { groups: 2, groupSize: 500, sendersPerGroup: 5, window: 2, durationS: 4, warmupS: 1 },
  history: { conversations: 4, depth: 5000, pageSize: 50, durationS: 4, warmupS: 1 },
  // Idle past one heartbeat interval (5 s), so every connection has heartbeated once.
  connections: { durationS: 6, warmupS: 0 },
  /** The mesh: chat servers of deploy/local/cluster (4 × 15,000 connections stays under 20,000 fds each). */
  // Warm-up 5 s: after its users connect, the mesh is still answering their hellos (a device-cursor
  // read in Cassandra each, seconds behind under 1,000 at once), which 1 s left inside the window.
  mesh: { chatServers: 4, warmupS: 5 },
  // 50 handshakes in flight per worker, not the default 200: every hello is a RegisterConnection
  // at the session service, which timed out (4.5 s) under 800 at once on this box.
  meshConnections: { users: 60_000, workers: 4, concurrency: 50, durationS: 6, warmupS: 0 },
  // Issue #14's mesh targets. Windows of 10 s with a 10 s drain: a message the mesh is seconds
  // behind on is late, one it never delivers is lost, and the two are told apart.
  /** Cross-server DMs open loop at rising rates until one is not sustained (mesh-ramp). */
  meshRamp: { users: 1000, rates: [500, 1000, 2000, 3000, 4000], warmupS: 5, durationS: 10, drainS: 10, referenceIfNone: 1000 },
  rampRule: { deliveredShare: 0.95, maxLost: 0, maxP99Ms: 50 },
  /** Cross-server DMs over the Kafka fallback (chat servers with CHAT_RELAY_ENABLED=false). */
  meshFallback: { users: 1000, mode: 'open' as const, rate: 1000, warmupS: 5, durationS: 10, drainS: 10 },
  /** 30 msg/s to groups of 500 = 14,970 deliveries/s, 3 in 4 of them to another chat server. */
  meshGroup: { groups: 2, groupSize: 500, sendersPerGroup: 5, mode: 'open' as const, rate: 30, warmupS: 5, durationS: 10 },
  // The connect phase is a burst (the loadgen's default 200 handshakes in flight per worker); the
  // idle window starts one heartbeat interval after the last connection opened.
  meshIdle: { users: 10_000, workers: 2, concurrency: 200, settleS: 5, durationS: 10, warmupS: 0 },
  /**
   * Issue #16: the same load per chat server at S = 2, 4, 8, 16 servers (flat-plan.ts): per server
   * 100 users, 10 DMs/s (3 in 4 to another server), 5 typing frames/s, a user every 2 s
   * reconnecting (away 1 s), each user watching 4 users (1 on its server, 3 on others). Per-server
   * CPU-s/s and inbox items/s at 16 must be within `maxRatio` of those at 2. Sized so that 16
   * servers' worth (1,600 users, 160 DMs/s) fits in the 2 cores beside the services, the engines
   * and the loadgen: 150 users and 20 DMs/s per server cost a chat server about 0.1 core in a short
   * smoke on 4 servers, which at 16 would ask for more cores than the box has. 50 handshakes in
   * flight per worker, as for the 60,000 connections.
   */
  meshFlat: {
    servers: [2, 4, 8, 16],
    load: { users: 100, msgPerSec: 10, typingPerSec: 5, churnPerSec: 0.5, offlineMs: 1000, remoteWatch: 3 },
    concurrency: 50,
    warmupS: 5,
    durationS: 10,
    drainS: 3,
    maxRatio: 1.25,
  },
};

export function median(xs: (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** What `loadgen suite` writes to bench/results.json; `loadgen doc` renders BENCHMARKS.md from it. */
export interface SuiteRecord {
  started: string;
  finished: string;
  /** HEAD when the suite started (the tree may also hold others' uncommitted work). */
  commit?: string;
  runs: number;
  from: 'dist' | 'tsx';
  connections: number;
  steps: Step[];
  /** `--only` as given (absent: the whole suite). */
  only?: string[];
  /** The mesh as this run set it up (absent when the mesh did not run). */
  mesh?: { chatServers: number; portOffset: number; distDir: string };
  /** Machine and versions at the start (absent in early records: the doc says "not recorded"). */
  machine?: { cpu: string; ramGiB: string; kernel: string; node: string; ws: string; engines?: { kafka: string; cassandra: string; redis: string } };
  /** Parts of the suite that could not run, and why (written into the doc, never hidden). */
  failures?: string[];
  /** Text size of the messages sent, bytes (absent in records from before it was recorded: SUITE.textBytes, unchanged since). */
  textBytes?: number;
}
