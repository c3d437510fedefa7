import type { RunOptions, RunResult, ScenarioName } from './scenarios';
import type { TargetKind } from './target';

/** One comparison: the same scenario and load on each target, runs alternated A/B/C, A/B/C, … */
export interface Step {
  key: string;
  title: string;
  scenario: ScenarioName;
  targets: TargetKind[];
  overrides: Partial<RunOptions>;
  results: RunResult[];
}

/** The standard suite's sizes; the commands in BENCHMARKS.md are derived from them. */
export const SUITE = {
  dm: { users: 1000, window: 2, durationS: 4, warmupS: 1 },
  group: { groups: 2, groupSize: 500, sendersPerGroup: 5, window: 2, durationS: 4, warmupS: 1 },
  history: { conversations: 4, depth: 5000, pageSize: 50, durationS: 4, warmupS: 1 },
  // Idle past one heartbeat interval (5 s), so every connection has heartbeated once.
  connections: { durationS: 6, warmupS: 0 },
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
}
