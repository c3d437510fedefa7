import { fix } from './report';
import type { RunResult } from './scenarios';
import { SUITE, median, type Step } from './suite-plan';

/**
 * The tables under every mesh step of BENCHMARKS.md: where the CPU went, process by process, and
 * what work each delivery cost (RPCs, Kafka requests, Cassandra statements, Redis commands).
 * Records from before per-process CPU (cpuParts by group: chat servers, services, engines) and
 * without work counters still render.
 */

/** Rows of one table: a target's runs, or a ramp rate's. */
export interface RowGroup {
  label: string;
  target: string;
  runs: RunResult[];
}

interface Column {
  name: string;
  get: (r: RunResult) => number | undefined;
  digits: number;
}

const CHAT_SERVER = /^chat-\d+$/;
/** The key under which records from before per-process CPU summed the chat servers. */
const CHAT_GROUP = 'chat servers';

export function rowsByTarget(step: Step): RowGroup[] {
  return [...new Set(step.results.map((r) => r.target))].map((target) => {
    const runs = step.results.filter((r) => r.target === target);
    return { label: `${target} (median of ${runs.length})`, target, runs };
  });
}

/** CPU-seconds of the chat servers in a run's cpuParts (per process, or the old group). */
export function chatServersCpu(r: RunResult): number | undefined {
  if (!r.cpuParts) return undefined;
  return Object.entries(r.cpuParts).reduce((a, [k, v]) => a + (CHAT_SERVER.test(k) || k === CHAT_GROUP ? v : 0), 0);
}

/** CPU-seconds of every process of the mesh in a run. */
export function wholeMeshCpu(r: RunResult): number | undefined {
  return r.cpuParts ? Object.values(r.cpuParts).reduce((a, b) => a + b, 0) : undefined;
}

/** Share (0–100) of a run's deliveries handed to `path`. */
export function pathShare(r: RunResult, path: string): number | undefined {
  const total = Object.values(r.paths ?? {}).reduce((a, b) => a + b, 0);
  return total ? (100 * (r.paths?.[path] ?? 0)) / total : undefined;
}

type Scale = 'per1k' | 'cores' | 'total';

/** Load steps: per 1k deliveries; connections measured over a window after they settled: cores; other connections steps: CPU-seconds. */
function scaleOf(step: Step): Scale {
  if (step.scenario !== 'connections') return 'per1k';
  return step.overrides.settleS !== undefined ? 'cores' : 'total';
}

function scaled(scale: Scale, r: RunResult, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (scale === 'per1k') return r.delivered ? v / (r.delivered / 1000) : undefined;
  return scale === 'cores' ? v / r.durationS : v;
}

/** A table of medians per row group, plus `a − b` rows: medians of the differences of runs paired in order. */
function figureTable(head: string, rows: RowGroup[], cols: Column[], differences: [string, string][]): string {
  const lines = [`| ${head} | ${cols.map((c) => c.name).join(' | ')} |`, `| --- | ${cols.map(() => '---:').join(' | ')} |`];
  for (const g of rows) lines.push(`| ${g.label} | ${cols.map((c) => fix(median(g.runs.map(c.get)), c.digits)).join(' | ')} |`);
  for (const [a, b] of differences) {
    const ra = rows.find((g) => g.target === a)?.runs ?? [];
    const rb = rows.find((g) => g.target === b)?.runs ?? [];
    const pairs = ra.slice(0, rb.length).map((r, i): [RunResult, RunResult] => [r, rb[i]]);
    if (pairs.length === 0) continue;
    const cell = (c: Column) => fix(median(pairs.map(([x, y]) => { const u = c.get(x); const v = c.get(y); return u === undefined || v === undefined ? undefined : u - v; })), c.digits);
    lines.push(`| **${a} − ${b}** (median of ${pairs.length}) | ${cols.map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Where the CPU went: one column per process (or group, in old records), the chat servers' total and the whole mesh's; delivery path shares on load steps. */
export function processTable(step: Step, rows: RowGroup[]): string | undefined {
  const withParts = rows.map((g) => ({ ...g, runs: g.runs.filter((r) => r.cpuParts) })).filter((g) => g.runs.length);
  if (withParts.length === 0) return undefined;
  const scale = scaleOf(step);
  const parts = [...new Set(withParts.flatMap((g) => g.runs.flatMap((r) => Object.keys(r.cpuParts ?? {}))))].filter((p) => p !== CHAT_GROUP);
  const perProcess = parts.some((p) => CHAT_SERVER.test(p));
  const digits = scale === 'total' ? 1 : 3;
  const paths = scale === 'per1k' && step.scenario !== 'history' ? ['local', 'relay', 'fallback'] : [];
  const cols: Column[] = [
    ...paths.map((p): Column => ({ name: `${p} %`, get: (r) => pathShare(r, p), digits: 1 })),
    ...parts.map((p): Column => ({ name: p, get: (r) => scaled(scale, r, r.cpuParts?.[p] ?? 0), digits })),
    { name: 'chat servers', get: (r) => scaled(scale, r, chatServersCpu(r)), digits },
    { name: 'whole mesh', get: (r) => scaled(scale, r, wholeMeshCpu(r)), digits },
  ];
  const unit = {
    per1k: 'CPU-seconds per 1k deliveries (medians; a DM is one delivery, a group message one per recipient)',
    cores: `cores (medians; CPU-seconds over the ${step.overrides.durationS ?? '?'} s window / its length)`,
    total: 'CPU-seconds from the first connect to the end of the idle window (medians)',
  }[scale];
  const what = perProcess
    ? `One column per process, its CPU (utime + stime, all threads) read from /proc by its pid file over the same window: chat-1 … chat-${SUITE.mesh.chatServers} are the chat servers, then each service (api-server, group-service, history-service, session-service, sync-worker) and each engine (kafka and cassandra: their JVMs; redis: redis-server). "chat servers" sums the chat servers (the "server CPU" above), "whole mesh" every process.`
    : `Process groups (this record is from before CPU was read per process): chat servers = the ${SUITE.mesh.chatServers} \`chat-server\` processes (the "server CPU" above); services = session-service, group-service, history-service, sync-worker and api-server; kafka, cassandra, redis = the engines' JVMs / redis-server; "whole mesh" = all of them.`;
  const pathText = paths.length ? " Path shares are the chat servers' `chat_deliveries_total{path}` over the measured window (one per recipient user handed to a path)." : '';
  return `Where it went, ${unit}:\n\n${figureTable(step.ramp ? 'offered' : 'target', withParts, cols, step.differences ?? [])}\n\n${what}${pathText}`;
}

const WORK_ORDER = ['rpc', 'kafka', 'cassandra statements', 'cassandra mutations', 'cassandra reads', 'cassandra requests', 'redis commands'];

function workRank(k: string): number {
  const i = WORK_ORDER.findIndex((w) => k === w || k.startsWith(`${w} `));
  return i === -1 ? WORK_ORDER.length : i;
}

function workName(k: string): string {
  if (k === 'rpc') return 'RPCs';
  return k.replace(/^(kafka|cassandra|redis)\b/, (m) => ({ kafka: 'Kafka', cassandra: 'Cassandra', redis: 'Redis' })[m] ?? m);
}

/** What each delivery cost in requests (load steps), or the requests per second of an idle window (connections): medians of the work counters. */
export function workTable(step: Step, rows: RowGroup[]): string | undefined {
  const withCounts = rows.map((g) => ({ ...g, runs: g.runs.filter((r) => r.engineCounts) })).filter((g) => g.runs.length);
  if (withCounts.length === 0) return undefined;
  const perDelivery = step.scenario !== 'connections';
  const keys = [...new Set(withCounts.flatMap((g) => g.runs.flatMap((r) => Object.keys(r.engineCounts ?? {}))))].sort((a, b) => workRank(a) - workRank(b) || a.localeCompare(b));
  const cols = keys.map((k): Column => ({
    name: workName(k),
    get: (r) => { const v = r.engineCounts?.[k] ?? 0; return perDelivery ? (r.delivered ? v / r.delivered : undefined) : v / r.durationS; },
    digits: perDelivery ? 3 : 1,
  }));
  const title = perDelivery ? 'Work per delivery (medians): requests each delivered message cost, over the measured window' : 'Work per second over the window (medians)';
  const what = "RPCs: gRPC calls the mesh's processes served (`chat_rpc_calls_total`, a stream counts once); Kafka: requests its processes sent, by API (`chat_kafka_requests_total`); Cassandra: CQL statements executed, MutationStage tasks (row writes), ReadStage tasks and native-protocol requests (its virtual tables, the probe's own 3 queries per read included); Redis: commands (INFO commandstats, but INFO).";
  return `${title}:\n\n${figureTable(step.ramp ? 'offered' : 'target', withCounts, cols, step.differences ?? [])}\n\n${what}`;
}
