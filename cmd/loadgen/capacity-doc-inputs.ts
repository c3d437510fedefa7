import { rampSummary, runsAt } from './mesh-ramp';
import { num } from './report';
import type { RunResult } from './scenarios';
import { SUITE, median, type Step, type SuiteRecord } from './suite-plan';

/**
 * The measured inputs of docs/CAPACITY.md, read from a suite record: per-message CPU and work of
 * each tier, the cost of an idle connection, memory per connection, and the bytes a message leaves
 * in Kafka and Cassandra. Anything the record lacks is undefined (the doc says "not measured"); a
 * value is only ever a median of what the record holds.
 */
export interface Inputs {
  /** Where the per-message figures come from (undefined: no mesh DM step in the record). */
  source?: { step: string; what: string; runs: number; deliveredShare?: number };
  /** CPU-seconds per 1k messages by tier (a DM is one message and one delivery). */
  cpuPer1k: Record<string, number>;
  /** The same for every process of the mesh together (median of the runs' sums). */
  wholePer1k?: number;
  /** Requests per message by counter (EngineCounters' names: rpc, kafka <api>, cassandra …, redis commands). */
  workPerMessage: Record<string, number>;
  idle?: Idle;
  memory?: Memory;
  bytes?: Bytes;
  /** Text size of the bench's messages. */
  textBytes: number;
  textBytesRecorded: boolean;
  /** Steps that show whether per-server cost stays flat as servers are added (keys containing "flat"). */
  flatSteps: Step[];
}

export interface Idle {
  what: string;
  /** Cores one idle (heartbeating) connection costs, by tier. */
  coresPerConn: Record<string, number>;
  /** Requests per second one idle connection causes, by counter. */
  workPerConnPerSec: Record<string, number>;
  /**
   * Tiers and counters whose median with the idle users came out below the empty mesh's: the
   * difference of two windows is within their noise, and the figure above is 0 for them.
   */
  belowNoise: string[];
}

export interface Memory {
  what: string;
  rssPerConn?: number;
  heapPerConn?: number;
  /** Connections one chat-server process held in the step. */
  perProcess?: number;
}

export interface Bytes {
  what: string;
  runs: number;
  /** Runs read after the wait for the mesh to be at rest timed out. */
  notAtRest: number;
  kafkaPerMessage: number;
  kafkaByTopic: Record<string, number>;
  commitlogPerMessage: number;
  sstablePerMessage: number;
  /** Whether every run's sstables were flushed before both reads, so `sstablePerMessage` is the data as kept on disk. */
  sstableFlushed: boolean;
}

/** The tier a cpuParts key belongs to: chat-1 … chat-n are one tier; old records' groups keep their names. */
export function tierOf(part: string): string {
  return /^chat-\d+$/.test(part) ? 'chat servers' : part;
}

/** Per-key medians over runs of `f(run)` (a key a run lacks counts as undefined for it). */
function medians(runs: RunResult[], f: (r: RunResult) => Record<string, number> | undefined): Record<string, number> {
  const per = runs.map(f);
  const keys = [...new Set(per.flatMap((x) => Object.keys(x ?? {})))];
  const out: Record<string, number> = {};
  for (const k of keys) {
    const m = median(per.map((x) => x?.[k]));
    if (m !== undefined) out[k] = m;
  }
  return out;
}

function byTier(parts: Record<string, number> | undefined): Record<string, number> | undefined {
  if (!parts) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(parts)) out[tierOf(k)] = (out[tierOf(k)] ?? 0) + v;
  return out;
}

function scale(x: Record<string, number> | undefined, by: number): Record<string, number> | undefined {
  return x && by > 0 && Number.isFinite(by) ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v / by])) : undefined;
}

/** The runs the per-message figures are read from: the ramp's highest sustained rate, its reference rate, or (older records) xs-dm-half over the relay. */
export function messageRuns(r: SuiteRecord): { step: Step; runs: RunResult[]; what: string } | undefined {
  const ramp = r.steps.find((s) => s.key === 'mesh-ramp' && s.ramp);
  if (ramp?.ramp) {
    const s = rampSummary(ramp.ramp);
    const best = runsAt(ramp, s.at);
    if (s.sustained && best.length) return { step: ramp, runs: best, what: `mesh-ramp at ${num(s.at)}/s, its highest sustained rate` };
    const ref = runsAt(ramp, ramp.ramp.referenceIfNone);
    if (ref.length) return { step: ramp, runs: ref, what: `mesh-ramp's ${num(ramp.ramp.referenceIfNone)}/s row (no rate was sustained)` };
  }
  const half = r.steps.find((s) => s.key === 'xs-dm-half');
  const runs = half?.results.filter((x) => x.target === 'mesh-relay' && x.cpuParts) ?? [];
  if (half && runs.length) return { step: half, runs, what: `xs-dm-half over the relay, open loop at ${num(runs[0].offeredRate)}/s, as this record has no mesh-ramp` };
  return undefined;
}

function idleInputs(r: SuiteRecord): Idle | undefined {
  const step = r.steps.find((s) => s.key === 'mesh-idle');
  const idle = step?.results.filter((x) => x.target === 'mesh-idle') ?? [];
  const empty = step?.results.filter((x) => x.target === 'mesh-empty') ?? [];
  const pairs = idle.slice(0, empty.length).map((x, i): [RunResult, RunResult] => [x, empty[i]]).filter(([x]) => x.connections > 0);
  if (pairs.length === 0) return undefined;
  const perConn = (a: Record<string, number> | undefined, b: Record<string, number> | undefined, x: RunResult) => {
    if (!a || !b) return undefined;
    return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, (v - (b[k] ?? 0)) / x.durationS / x.connections]));
  };
  const cores = pairs.map(([x, e]) => perConn(byTier(x.cpuParts), byTier(e.cpuParts), x));
  const work = pairs.map(([x, e]) => perConn(x.engineCounts, e.engineCounts, x));
  const keys = (xs: (Record<string, number> | undefined)[]) => [...new Set(xs.flatMap((x) => Object.keys(x ?? {})))];
  const belowNoise: string[] = [];
  // A negative cost is noise, not a saving: it would subtract machines from a tier in the model.
  const med = (xs: (Record<string, number> | undefined)[]) =>
    Object.fromEntries(
      keys(xs)
        .map((k) => [k, median(xs.map((x) => x?.[k]))])
        .filter((e): e is [string, number] => e[1] !== undefined)
        .map(([k, v]) => (v < 0 ? (belowNoise.push(k), [k, 0]) : [k, v])),
    );
  return { what: `mesh-idle: ${num(median(pairs.map(([x]) => x.connections)))} idle users against the empty mesh (median of ${pairs.length} paired run${pairs.length === 1 ? '' : 's'})`, coresPerConn: med(cores), workPerConnPerSec: med(work), belowNoise };
}

function memoryInputs(r: SuiteRecord): Memory | undefined {
  const servers = r.mesh?.chatServers ?? SUITE.mesh.chatServers;
  for (const [key, target] of [['mesh-connections', 'mesh-relay'], ['mesh-idle', 'mesh-idle']]) {
    const runs = r.steps.find((s) => s.key === key)?.results.filter((x) => x.target === target && x.rssPerConnBytes !== undefined) ?? [];
    if (runs.length === 0) continue;
    const open = median(runs.map((x) => x.connections));
    return { what: `${key}: ${num(open)} connections over ${servers} chat servers (median of ${runs.length})`, rssPerConn: median(runs.map((x) => x.rssPerConnBytes)), heapPerConn: median(runs.map((x) => x.heapPerConnBytes)), perProcess: open === undefined ? undefined : open / servers };
  }
  return undefined;
}

function bytesInputs(step: Step, runs: RunResult[], what: string): Bytes | undefined {
  const samples = (step.dataGrowth ?? []).filter((g) => runs.includes(step.results[g.result]) && g.messages > 0);
  if (samples.length === 0) return undefined;
  const kafkaTotal = (g: (typeof samples)[number]) => Object.values(g.kafkaLogBytes).reduce((a, b) => a + b, 0);
  return {
    what,
    runs: samples.length,
    notAtRest: samples.filter((g) => !g.atRest).length,
    kafkaPerMessage: median(samples.map((g) => kafkaTotal(g) / g.messages)) ?? 0,
    kafkaByTopic: medians(runs, (x) => { const g = samples.find((s) => step.results[s.result] === x); return g ? scale(g.kafkaLogBytes, g.messages) : undefined; }),
    commitlogPerMessage: median(samples.map((g) => g.cassandraCommitlogBytes / g.messages)) ?? 0,
    sstablePerMessage: median(samples.map((g) => g.cassandraSstableBytes / g.messages)) ?? 0,
    sstableFlushed: samples.every((g) => g.cassandraFlushed === true),
  };
}

export function readInputs(r: SuiteRecord): Inputs {
  const src = messageRuns(r);
  const runs = src?.runs ?? [];
  const share = median(runs.map((x) => (x.offeredRate ? x.deliveredPerSec / x.offeredRate : undefined)));
  const per1k = (x: RunResult) => scale(byTier(x.cpuParts), x.delivered / 1000);
  return {
    source: src && { step: src.step.key, what: `${src.what} (median of ${runs.length} run${runs.length === 1 ? '' : 's'})`, runs: runs.length, deliveredShare: share },
    cpuPer1k: medians(runs, per1k),
    wholePer1k: median(runs.map((x) => (x.cpuParts && x.delivered ? Object.values(x.cpuParts).reduce((a, b) => a + b, 0) / (x.delivered / 1000) : undefined))),
    workPerMessage: medians(runs, (x) => scale(x.engineCounts, x.delivered)),
    idle: idleInputs(r),
    memory: memoryInputs(r),
    bytes: src && bytesInputs(src.step, runs, src.what),
    textBytes: r.textBytes ?? SUITE.textBytes,
    textBytesRecorded: r.textBytes !== undefined,
    flatSteps: r.steps.filter((s) => /flat/.test(s.key)),
  };
}
