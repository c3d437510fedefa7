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
}

/** The standard suite's sizes; the commands in BENCHMARKS.md are derived from them. */
export const SUITE = {
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
}
