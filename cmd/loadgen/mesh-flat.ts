import { rest, type MeshSuite } from './issue14-steps';
import { num } from './report';
import type { RunResult } from './scenarios';
import { SUITE, median, type Step } from './suite-plan';

/**
 * Issue #16 item 5: a chat server's cost is flat as servers are added. The same load per server
 * (flat-plan.ts) runs on 2, 4, 8 and 16 chat servers (only the chat servers restart; the services
 * and engines stay), and each server's CPU, inbox items and Kafka requests are read over the
 * window. The figure of a run is the median over its servers; of a server count, the median over
 * its runs; each is compared with the smallest server count's.
 */

/** The target label of the runs on `servers` chat servers. */
export function flatTarget(servers: number): string {
  return `mesh-flat-${servers}`;
}

/** The number of chat servers of a flat target label (undefined: not one). */
export function serversOf(target: string): number | undefined {
  const m = /^mesh-flat-(\d+)$/.exec(target);
  return m ? Number(m[1]) : undefined;
}

export async function runFlatStep(s: MeshSuite): Promise<void> {
  const f = SUITE.meshFlat;
  const l = f.load;
  const step: Step = {
    key: 'mesh-flat',
    phase: 'mesh',
    title: `per-server cost as chat servers are added: the same load per server on ${f.servers.join(', ')} chat servers (${l.users} users, ${l.msgPerSec} DMs/s, ${l.typingPerSec} typing frames/s and ${l.churnPerSec} reconnects/s per server)`,
    scenario: 'flat',
    targets: f.servers.map(flatTarget),
    overrides: { flat: l, concurrency: f.concurrency, warmupS: f.warmupS, durationS: f.durationS, drainS: f.drainS },
    results: [],
    ratios: [],
  };
  s.addStep(step);
  for (let i = 0; i < s.runs; i++) {
    for (const n of f.servers) {
      const target = flatTarget(n);
      await s.mesh.ensure(true, n);
      await rest(s, step, `${target} run ${i + 1}`);
      // A server count the machine cannot carry (the run stalls, a scrape times out) is a finding
      // for that count, not the end of the step: the other counts still run.
      await s.runOne(step, target, `${step.key} ${target} ${i + 1}/${s.runs}`, { urls: s.mesh.wsUrls, measured: s.mesh.measured(target), targetLabel: target, userPrefix: `fl${n}r${i}-` }).catch((err: unknown) => {
        s.fail(`${target} run ${i + 1}: ${err instanceof Error ? err.message : String(err)} (on ${n} chat servers)`);
      });
    }
    s.checkpoint();
  }
}

/** One run's per-server figures: medians over its chat servers, per second of the window. */
export interface RunFigures {
  cpuPerSec?: number;
  inboxPerSec?: number;
  kafkaPerSec?: number;
  /** Inbox items per second by `<kind> <path>`, each the median over the servers. */
  inboxByKind: Record<string, number>;
}

function sum(xs: Record<string, number> | undefined): number | undefined {
  return xs ? Object.values(xs).reduce((a, b) => a + b, 0) : undefined;
}

export function runFigures(r: RunResult): RunFigures {
  const servers = r.servers ?? [];
  const per = (v: number | undefined) => (v === undefined ? undefined : v / r.durationS);
  const kinds = [...new Set(servers.flatMap((s) => Object.keys(s.inbox ?? {})))].sort();
  return {
    cpuPerSec: median(servers.map((s) => per(s.cpuSeconds))),
    inboxPerSec: median(servers.map((s) => per(sum(s.inbox)))),
    kafkaPerSec: median(servers.map((s) => per(s.kafkaRequests))),
    inboxByKind: Object.fromEntries(kinds.map((k) => [k, median(servers.map((s) => per(s.inbox?.[k]))) ?? 0])),
  };
}

/** One server count's figures: medians over its runs of the runs' figures, and their ratio to the smallest server count's. */
export interface FlatRow {
  servers: number;
  target: string;
  runs: RunResult[];
  cpuPerSec?: number;
  inboxPerSec?: number;
  kafkaPerSec?: number;
  inboxByKind: Record<string, number>;
  cpuRatio?: number;
  inboxRatio?: number;
  kafkaRatio?: number;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** A row per server count of the step, ascending; ratios are to the first row (2 servers in the suite). */
export function flatRows(step: Step): FlatRow[] {
  const rows = [...new Set(step.results.map((r) => r.target))]
    .map((target) => ({ target, servers: serversOf(target) }))
    .filter((t): t is { target: string; servers: number } => t.servers !== undefined)
    .sort((a, b) => a.servers - b.servers)
    .map(({ target, servers }): FlatRow => {
      const runs = step.results.filter((r) => r.target === target);
      const figs = runs.map(runFigures);
      const kinds = [...new Set(figs.flatMap((f) => Object.keys(f.inboxByKind)))].sort();
      return {
        servers,
        target,
        runs,
        cpuPerSec: median(figs.map((f) => f.cpuPerSec)),
        inboxPerSec: median(figs.map((f) => f.inboxPerSec)),
        kafkaPerSec: median(figs.map((f) => f.kafkaPerSec)),
        inboxByKind: Object.fromEntries(kinds.map((k) => [k, median(figs.map((f) => f.inboxByKind[k])) ?? 0])),
      };
    });
  const base = rows[0];
  for (const row of rows) {
    row.cpuRatio = ratio(row.cpuPerSec, base?.cpuPerSec);
    row.inboxRatio = ratio(row.inboxPerSec, base?.inboxPerSec);
    row.kafkaRatio = ratio(row.kafkaPerSec, base?.kafkaPerSec);
  }
  return rows;
}

/** One criterion: the figure at the most servers against the fewest; met when the ratio is at most `maxRatio` (a figure that falls is within). */
export interface FlatVerdict {
  criterion: string;
  measured: string;
  /** undefined: not measured (too few server counts ran, or the figure is absent). */
  met?: boolean;
}

/** The two criteria of the issue: a chat server's CPU-s/s and inbox items/s at the most servers within `maxRatio` of the fewest. */
export function flatVerdicts(rows: FlatRow[], maxRatio = SUITE.meshFlat.maxRatio, wanted: readonly number[] = SUITE.meshFlat.servers): FlatVerdict[] {
  const lo = Math.min(...wanted);
  const hi = Math.max(...wanted);
  const base = rows.find((r) => r.servers === lo);
  const top = rows.find((r) => r.servers === hi);
  const one = (what: string, get: (r: FlatRow) => number | undefined, digits: number): FlatVerdict => {
    const criterion = `a chat server's ${what} at ${hi} chat servers ≤ ${maxRatio}× at ${lo}`;
    const a = base && get(base);
    const b = top && get(top);
    if (!base || !top) return { criterion, measured: `not run: no runs on ${[base ? undefined : lo, top ? undefined : hi].filter((x) => x !== undefined).join(' and ')} chat servers` };
    if (a === undefined || b === undefined) return { criterion, measured: 'not measured (the chat servers do not report it)' };
    const r = ratio(b, a);
    const show = (v: number) => v.toFixed(digits);
    return { criterion, measured: `${show(b)} at ${hi} vs ${show(a)} at ${lo}: ${r === undefined ? '–' : `${r.toFixed(2)}×`} (medians of ${num(top.runs.length)} and ${num(base.runs.length)} runs)`, met: r !== undefined && r <= maxRatio };
  };
  return [one('CPU-seconds per second', (r) => r.cpuPerSec, 4), one('inbox items per second', (r) => r.inboxPerSec, 1)];
}
